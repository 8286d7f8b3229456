<?php
// SimpleSAMLphp 1.19 (Debian) configuration for tests/browser.rs. Read
// through SIMPLESAMLPHP_CONFIG_DIR from a per-run temporary directory;
// everything the IdP writes (logs, PHP sessions, templates) stays there.
// SAMLGATE_IDP_DIR is that directory, SAMLGATE_IDP_BASE the IdP's URL.
$dir = getenv('SAMLGATE_IDP_DIR');
$config = [
    'baseurlpath' => getenv('SAMLGATE_IDP_BASE') . '/',
    'certdir' => $dir . '/cert/',
    'loggingdir' => $dir . '/log/',
    'datadir' => $dir . '/data/',
    'tempdir' => $dir . '/tmp',
    'metadatadir' => $dir . '/metadata/',
    'attributenamemapdir' => '/usr/share/simplesamlphp/attributemap/',
    'secretsalt' => getenv('SAMLGATE_IDP_SALT'),
    'auth.adminpassword' => getenv('SAMLGATE_IDP_SALT'),
    'technicalcontact_name' => 'samlgate tests',
    'technicalcontact_email' => 'na@example.org',
    'timezone' => 'UTC',
    'admin.protectindexpage' => true,
    'admin.protectmetadata' => false,
    'admin.checkforupdates' => false,
    // null: any ReturnTo/RelayState URL is accepted (the gateway's
    // loopback address is not the IdP's).
    'trusted.url.domains' => null,
    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp' => false,
    'module.enable' => [
        'exampleauth' => true,
        'core' => true,
        'saml' => true,
        'admin' => true,
    ],
    'showerrors' => true,
    'errorreporting' => false,
    'debug' => ['saml' => false, 'backtraces' => true, 'validatexml' => false],
    'logging.level' => SimpleSAML\Logger::INFO,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'statistics.out' => [],
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => $dir . '/sessions',
    // The IdP is served over plain HTTP on loopback: a Secure cookie would
    // never come back to it.
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'language.cookie.secure' => false,
    'language.cookie.samesite' => null,
    'language.available' => ['en'],
    'language.default' => 'en',
    'theme.use' => 'default',
    'production' => true,
    'authproc.idp' => [],
];
