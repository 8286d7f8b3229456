<?php
// Two users for tests/browser.rs (exampleauth:UserPass: "user:password").
// Attribute names are sent as they are here (NameFormat basic), so the
// gateway maps `attribute:email`, `attribute:groups`.
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
        'alice:alice-password' => [
            'uid' => ['alice'],
            'email' => ['alice@example.org'],
            'groups' => ['staff', 'admins'],
            'eduPersonAffiliation' => ['member', 'employee'],
        ],
        'bob:bob-password' => [
            'uid' => ['bob'],
            'email' => ['bob@example.org'],
            'groups' => ['students'],
            'eduPersonAffiliation' => ['member', 'student'],
        ],
    ],
];
