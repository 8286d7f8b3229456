//! IdP metadata in: EntityDescriptor / EntitiesDescriptor to trusted keys,
//! endpoints and policy hints, under a [`MetadataPolicy`] (signature,
//! validUntil).

use std::sync::Arc;

use samlgate_dsig::{
    decode_base64_text, signature_child, verify_enveloped, AlgorithmPolicy, KeyCache, TrustedKey,
    TrustedKeys, DSIG_NS,
};
use samlgate_xml::{Document, Limits, NodeId};

use crate::ns::MD;
use crate::time::parse_duration_seconds;
use crate::trust::{Endpoint, IdpEntity};
use crate::Instant;

/// Limits for metadata: aggregates are far larger than messages.
pub fn metadata_limits() -> Limits {
    Limits {
        max_document_bytes: 64 * 1024 * 1024,
        max_depth: 64,
        max_attributes_per_element: 256,
        max_nodes: 4_000_000,
    }
}

/// Why metadata could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("idp metadata: {0}")]
pub struct MetadataError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, MetadataError> {
    Err(MetadataError(message.into()))
}

/// How metadata must be checked before it is trusted.
#[derive(Clone)]
pub struct MetadataPolicy {
    /// The instant validUntil is compared with; None skips the check (only
    /// for tools that inspect metadata, never for trust decisions).
    pub now: Option<Instant>,
    /// Refuse metadata without validUntil (the saml2int profile requires
    /// it; ADFS and Entra metadata usually lack it, so off by default).
    pub require_valid_until: bool,
    /// When set, the metadata must carry an enveloped signature on its root
    /// element that one of these keys verifies; unsigned metadata is then
    /// refused.
    pub signing_keys: Option<TrustedKeys>,
    /// Algorithms accepted for the metadata signature.
    pub algorithms: AlgorithmPolicy,
    /// Where certificates are turned into keys; None parses each one.
    pub key_cache: Option<Arc<dyn KeyCache>>,
}

impl std::fmt::Debug for MetadataPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataPolicy")
            .field("now", &self.now)
            .field("require_valid_until", &self.require_valid_until)
            .field("signing_keys", &self.signing_keys)
            .field("key_cache", &self.key_cache.is_some())
            .finish_non_exhaustive()
    }
}

impl MetadataPolicy {
    /// Unsigned metadata allowed, validUntil checked against `now`.
    pub fn at(now: Instant) -> Self {
        MetadataPolicy {
            now: Some(now),
            require_valid_until: false,
            signing_keys: None,
            algorithms: AlgorithmPolicy::default(),
            key_cache: None,
        }
    }
}

/// Metadata that passed its policy.
#[derive(Debug, Clone)]
pub struct IdpMetadata {
    /// Every EntityDescriptor with an IDPSSODescriptor.
    pub entities: Vec<IdpEntity>,
    /// The earliest validUntil that applies (root or any entity used).
    pub valid_until: Option<Instant>,
    /// The smallest cacheDuration given, in seconds: a hint for refresh.
    pub cache_duration_seconds: Option<u64>,
    /// SHA-256 fingerprint of the key that verified the metadata signature.
    pub signed_by: Option<String>,
}

/// Parses IdP metadata without a signature or time policy: every
/// EntityDescriptor with an IDPSSODescriptor, with the certificates of its
/// KeyDescriptors whose `use` is `signing` or absent (several certificates
/// are all trusted: key rollover).
pub fn parse_idp_metadata(xml: &[u8]) -> Result<Vec<IdpEntity>, MetadataError> {
    let policy = MetadataPolicy {
        now: None,
        ..MetadataPolicy::at(Instant::from_unix_millis(0))
    };
    load_idp_metadata(xml, &policy).map(|m| m.entities)
}

/// Parses and checks IdP metadata under `policy`.
pub fn load_idp_metadata(
    xml: &[u8],
    policy: &MetadataPolicy,
) -> Result<IdpMetadata, MetadataError> {
    let doc = Document::parse(xml, &metadata_limits()).map_err(|e| MetadataError(e.to_string()))?;
    let root = doc.root();
    if !doc.is(root, MD, "EntityDescriptor") && !doc.is(root, MD, "EntitiesDescriptor") {
        return err("root element is neither md:EntityDescriptor nor md:EntitiesDescriptor");
    }

    let signed_by = match &policy.signing_keys {
        Some(keys) => {
            let Some(signature) = signature_child(&doc, root)
                .map_err(|e| MetadataError(format!("metadata signature: {e}")))?
            else {
                return err(
                    "metadata is unsigned, but a metadata signing certificate is configured",
                );
            };
            let verified = verify_enveloped(&doc, root, signature, keys, &policy.algorithms)
                .map_err(|e| {
                    MetadataError(format!(
                        "metadata signature does not verify with the configured signing certificate ({}): {e}",
                        e.reason().as_str()
                    ))
                })?;
            Some(verified.key_fingerprint().to_owned())
        }
        None => None,
    };

    let mut state = Walk {
        doc: &doc,
        policy,
        entities: Vec::new(),
        valid_until: None,
        cache_duration_seconds: None,
        skipped_expired: Vec::new(),
    };
    let root_valid_until = state.times(root)?;
    if root_valid_until.is_none() && policy.require_valid_until {
        return err("metadata has no validUntil, and the policy requires one");
    }
    if let (Some(until), Some(now)) = (root_valid_until, policy.now) {
        if now >= until {
            return err(format!("metadata expired: validUntil {until} has passed"));
        }
    }
    if doc.is(root, MD, "EntityDescriptor") {
        state.entity(root)?;
    } else {
        state.aggregate(root)?;
    }
    if state.entities.is_empty() {
        if let Some(first) = state.skipped_expired.first() {
            return err(format!(
                "every IdP in the metadata has expired (first: {first})"
            ));
        }
        return err("no IDPSSODescriptor with a signing certificate");
    }
    Ok(IdpMetadata {
        entities: state.entities,
        valid_until: state.valid_until,
        cache_duration_seconds: state.cache_duration_seconds,
        signed_by,
    })
}

struct Walk<'d, 'a, 'p> {
    doc: &'d Document<'a>,
    policy: &'p MetadataPolicy,
    entities: Vec<IdpEntity>,
    valid_until: Option<Instant>,
    cache_duration_seconds: Option<u64>,
    skipped_expired: Vec<String>,
}

impl Walk<'_, '_, '_> {
    /// Reads validUntil and cacheDuration of one element, folding them into
    /// the document-wide minimum.
    fn times(&mut self, el: NodeId) -> Result<Option<Instant>, MetadataError> {
        let doc = self.doc;
        let valid_until = match doc.attr(el, "validUntil") {
            Some(v) => Some(Instant::parse(v).ok_or_else(|| {
                MetadataError(format!("validUntil {v:?} is not a valid dateTime"))
            })?),
            None => None,
        };
        if let Some(v) = doc.attr(el, "cacheDuration") {
            let seconds = parse_duration_seconds(v).ok_or_else(|| {
                MetadataError(format!("cacheDuration {v:?} is not a valid duration"))
            })?;
            self.cache_duration_seconds = Some(
                self.cache_duration_seconds
                    .map_or(seconds, |s| s.min(seconds)),
            );
        }
        if let Some(v) = valid_until {
            self.valid_until = Some(self.valid_until.map_or(v, |u| u.min(v)));
        }
        Ok(valid_until)
    }

    fn expired(&self, valid_until: Option<Instant>) -> bool {
        matches!((valid_until, self.policy.now), (Some(u), Some(now)) if now >= u)
    }

    /// An EntitiesDescriptor: its entities and nested aggregates. An expired
    /// nested part is left out (and named if nothing else is usable).
    fn aggregate(&mut self, el: NodeId) -> Result<(), MetadataError> {
        let doc = self.doc;
        for child in doc.child_elements(el) {
            if doc.is(child, MD, "EntitiesDescriptor") {
                let until = self.times(child)?;
                if self.expired(until) {
                    let name = doc.attr(child, "Name").unwrap_or("EntitiesDescriptor");
                    self.skipped_expired.push(name.to_owned());
                    continue;
                }
                self.aggregate(child)?;
            } else if doc.is(child, MD, "EntityDescriptor") {
                let until = self.times(child)?;
                if self.expired(until) {
                    let name = doc.attr(child, "entityID").unwrap_or("EntityDescriptor");
                    self.skipped_expired.push(name.to_owned());
                    continue;
                }
                self.entity(child)?;
            }
        }
        Ok(())
    }

    fn entity(&mut self, ed: NodeId) -> Result<(), MetadataError> {
        let doc = self.doc;
        let entity_id = doc
            .attr(ed, "entityID")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| MetadataError("EntityDescriptor without entityID".into()))?;
        let mut found: Option<IdpEntity> = None;
        for idp in doc.children_named(ed, MD, "IDPSSODescriptor") {
            // A descriptor for SAML 1.x only is not ours; a missing
            // (schema-required) enumeration is tolerated.
            let supports_saml2 = doc
                .attr(idp, "protocolSupportEnumeration")
                .is_none_or(|p| p.split_ascii_whitespace().any(|p| p == crate::ns::PROTOCOL));
            if !supports_saml2 {
                continue;
            }
            let until = self.times(idp)?;
            if self.expired(until) {
                self.skipped_expired.push(entity_id.to_owned());
                continue;
            }
            let entity = found.get_or_insert_with(|| IdpEntity {
                entity_id: entity_id.to_owned(),
                ..IdpEntity::default()
            });
            read_idp_descriptor(doc, idp, entity_id, entity, self.policy)?;
        }
        let Some(entity) = found else {
            return Ok(());
        };
        if entity.signing_keys.is_empty() {
            return err(format!(
                "{entity_id}: IDPSSODescriptor has no signing certificate"
            ));
        }
        self.entities.push(entity);
        Ok(())
    }
}

fn read_idp_descriptor(
    doc: &Document<'_>,
    idp: NodeId,
    entity_id: &str,
    entity: &mut IdpEntity,
    policy: &MetadataPolicy,
) -> Result<(), MetadataError> {
    if matches!(doc.attr(idp, "WantAuthnRequestsSigned"), Some("true" | "1")) {
        entity.want_authn_requests_signed = true;
    }
    for child in doc.child_elements(idp) {
        if doc.namespace(child) != Some(MD) {
            continue;
        }
        match doc.local_name(child) {
            "KeyDescriptor" => {
                if !matches!(doc.attr(child, "use"), None | Some("signing")) {
                    continue;
                }
                for key in key_descriptor_certificates(doc, child, entity_id, policy)? {
                    entity.signing_keys.add(key);
                }
            }
            "SingleSignOnService" => entity.sso.push(endpoint(doc, child, entity_id)?),
            "SingleLogoutService" => entity.slo.push(endpoint(doc, child, entity_id)?),
            "NameIDFormat" => {
                let format = doc.text_content(child).trim().to_owned();
                if !format.is_empty() && !entity.name_id_formats.contains(&format) {
                    entity.name_id_formats.push(format);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn key_descriptor_certificates(
    doc: &Document<'_>,
    kd: NodeId,
    entity_id: &str,
    policy: &MetadataPolicy,
) -> Result<Vec<TrustedKey>, MetadataError> {
    let mut keys = Vec::new();
    for ki in doc.children_named(kd, DSIG_NS, "KeyInfo") {
        for xd in doc.children_named(ki, DSIG_NS, "X509Data") {
            for cert in doc.children_named(xd, DSIG_NS, "X509Certificate") {
                let der = decode_base64_text(&doc.text_content(cert)).ok_or_else(|| {
                    MetadataError(format!("{entity_id}: X509Certificate is not base64"))
                })?;
                let key = match &policy.key_cache {
                    Some(cache) => cache.key_for_cert_der(&der),
                    None => TrustedKey::from_cert_der(&der),
                }
                .map_err(|e| MetadataError(format!("{entity_id}: {e}")))?;
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

fn endpoint(doc: &Document<'_>, el: NodeId, entity_id: &str) -> Result<Endpoint, MetadataError> {
    let binding = doc.attr(el, "Binding").filter(|b| !b.is_empty());
    let location = doc.attr(el, "Location").filter(|l| !l.is_empty());
    match (binding, location) {
        (Some(binding), Some(location)) => Ok(Endpoint {
            binding: binding.to_owned(),
            location: location.to_owned(),
            response_location: doc.attr(el, "ResponseLocation").map(str::to_owned),
        }),
        _ => err(format!(
            "{entity_id}: {} without Binding or Location",
            doc.local_name(el)
        )),
    }
}
