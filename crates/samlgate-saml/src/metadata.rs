//! IdP metadata in: EntityDescriptor / EntitiesDescriptor to trusted keys.

use samlgate_dsig::{decode_base64_text, TrustedKey, TrustedKeys, DSIG_NS};
use samlgate_xml::{Document, Limits, NodeId};

use crate::ns::MD;
use crate::trust::IdpEntity;

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

/// Parses IdP metadata: every EntityDescriptor with an IDPSSODescriptor,
/// with the certificates of its KeyDescriptors whose `use` is `signing` or
/// absent (several certificates are all trusted: key rollover).
pub fn parse_idp_metadata(xml: &[u8]) -> Result<Vec<IdpEntity>, MetadataError> {
    let doc = Document::parse(xml, &metadata_limits()).map_err(|e| MetadataError(e.to_string()))?;
    let root = doc.root();
    let mut out = Vec::new();
    if doc.is(root, MD, "EntityDescriptor") {
        entity(&doc, root, &mut out)?;
    } else if doc.is(root, MD, "EntitiesDescriptor") {
        for el in doc.descendants(root) {
            if doc.is(el, MD, "EntityDescriptor") {
                entity(&doc, el, &mut out)?;
            }
        }
    } else {
        return Err(MetadataError(
            "root element is neither md:EntityDescriptor nor md:EntitiesDescriptor".into(),
        ));
    }
    if out.is_empty() {
        return Err(MetadataError(
            "no IDPSSODescriptor with a signing certificate".into(),
        ));
    }
    Ok(out)
}

fn entity(doc: &Document<'_>, ed: NodeId, out: &mut Vec<IdpEntity>) -> Result<(), MetadataError> {
    let entity_id = doc
        .attr(ed, "entityID")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| MetadataError("EntityDescriptor without entityID".into()))?;
    let mut keys = TrustedKeys::new();
    let mut has_idp = false;
    for idp in doc.children_named(ed, MD, "IDPSSODescriptor") {
        has_idp = true;
        for kd in doc.children_named(idp, MD, "KeyDescriptor") {
            if !matches!(doc.attr(kd, "use"), None | Some("signing")) {
                continue;
            }
            for ki in doc.children_named(kd, DSIG_NS, "KeyInfo") {
                for xd in doc.children_named(ki, DSIG_NS, "X509Data") {
                    for cert in doc.children_named(xd, DSIG_NS, "X509Certificate") {
                        let der = decode_base64_text(&doc.text_content(cert)).ok_or_else(|| {
                            MetadataError(format!("{entity_id}: X509Certificate is not base64"))
                        })?;
                        let key = TrustedKey::from_cert_der(&der)
                            .map_err(|e| MetadataError(format!("{entity_id}: {e}")))?;
                        keys.add(key);
                    }
                }
            }
        }
    }
    if has_idp {
        if keys.is_empty() {
            return Err(MetadataError(format!(
                "{entity_id}: IDPSSODescriptor has no signing certificate"
            )));
        }
        out.push(IdpEntity {
            entity_id: entity_id.to_owned(),
            signing_keys: keys,
        });
    }
    Ok(())
}
