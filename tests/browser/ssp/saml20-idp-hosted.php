<?php
// The hosted IdP. Its key and certificate are made per run (cert/ in the
// run's directory); its metadata, at /saml2/idp/metadata.php, is signed
// with the same key so the gateway can fetch it over plain HTTP and still
// trust it (metadata_signing_cert).
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'metadata.sign.enable' => true,
    'metadata.sign.privatekey' => 'idp.key',
    'metadata.sign.certificate' => 'idp.crt',
    'metadata.sign.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    // Sign LogoutRequest/LogoutResponse (SigAlg + Signature on the
    // Redirect binding), as SPs that check logout messages require.
    'sign.logout' => true,
    'SingleLogoutServiceBinding' => [
        'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
    ],
];
