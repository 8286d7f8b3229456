<?php
// Registers an SP with the IdP the way an administrator does it with the
// metadata converter: SimpleSAMLphp's own SAMLParser reads the SP's XML
// metadata (what `samlgate metadata` wrote) and the result is written as
// the PHP array that 1.19's saml20-sp-remote.php takes, with the per-SP
// options of a test variant laid over it.
//
//   php sp-remote.php OUT.php SP1.xml OPTIONS1.json [SP2.xml OPTIONS2.json ...]
//
// OPTIONS*.json is an object of metadata options (saml20.sign.response,
// assertion.encryption, ...); an "entityid" in it registers the same
// metadata under another entity ID (a wrong-audience test).
require '/usr/share/simplesamlphp/lib/_autoload.php';

if ($argc < 4 || $argc % 2 !== 0) {
    fwrite(STDERR, "usage: php sp-remote.php OUT.php SP.xml OPTIONS.json [...]\n");
    exit(2);
}
$out = "<?php\n// Written by tests/browser/ssp/sp-remote.php\n";
for ($i = 2; $i < $argc; $i += 2) {
    $entities = \SimpleSAML\Metadata\SAMLParser::parseDescriptorsFile($argv[$i]);
    $options = json_decode(file_get_contents($argv[$i + 1]), true, 16, JSON_THROW_ON_ERROR);
    foreach ($entities as $entityId => $entity) {
        $sp = $entity->getMetadata20SP();
        if ($sp === null) {
            fwrite(STDERR, "$entityId: no SPSSODescriptor\n");
            exit(1);
        }
        $sp = array_replace($sp, $options);
        $sp['entityid'] = $sp['entityid'] ?? $entityId;
        $out .= '$metadata[' . var_export($sp['entityid'], true) . '] = '
            . var_export($sp, true) . ";\n";
    }
}
file_put_contents($argv[1], $out);
