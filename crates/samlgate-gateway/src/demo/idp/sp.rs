//! What the demo IdP knows of its one SP for Single Logout: the SP's
//! signing keys and SingleLogoutService endpoints, registered directly or
//! from its metadata (read once from the SP's metadata URL when logout
//! first needs it, as `samlgate demo` arranges).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use samlgate_dsig::{TrustedKey, TrustedKeys, DSIG_NS};
use samlgate_saml::ns::MD;
use samlgate_saml::{
    metadata_limits, Endpoint, IdpEntity, BINDING_HTTP_POST, BINDING_HTTP_REDIRECT,
};
use samlgate_xml::Document;

use super::DemoIdp;

/// What the IdP knows of its SP for Single Logout.
#[derive(Debug, Clone, Default)]
pub struct SpRegistration {
    /// The SP's signing keys: its LogoutRequests and LogoutResponses must
    /// verify with one of them.
    pub signing_keys: TrustedKeys,
    /// The SP's SingleLogoutService endpoints.
    pub slo: Vec<Endpoint>,
}

impl SpRegistration {
    fn is_empty(&self) -> bool {
        self.signing_keys.is_empty() && self.slo.is_empty()
    }

    /// Where logout messages go: HTTP-Redirect when offered, else POST.
    pub(super) fn endpoint(&self) -> Option<&Endpoint> {
        IdpEntity::endpoint(&self.slo, BINDING_HTTP_REDIRECT)
            .or_else(|| IdpEntity::endpoint(&self.slo, BINDING_HTTP_POST))
    }
}

impl DemoIdp {
    /// Registers what the IdP knows of its SP (replacing what it knew).
    pub fn register_sp(&self, sp: SpRegistration) {
        if let Ok(mut known) = self.sp.lock() {
            *known = sp;
        }
    }

    /// Registers the SP from its metadata: the EntityDescriptor whose
    /// entityID is this IdP's SP, its SPSSODescriptor's signing
    /// certificates and SingleLogoutService endpoints.
    pub fn register_sp_metadata(&self, xml: &[u8]) -> Result<(), String> {
        let doc = Document::parse(xml, &metadata_limits()).map_err(|e| e.to_string())?;
        let entity = doc
            .elements()
            .find(|e| {
                doc.is(*e, MD, "EntityDescriptor")
                    && doc.attr(*e, "entityID") == Some(self.sp_entity_id.as_str())
            })
            .ok_or_else(|| format!("no EntityDescriptor for {}", self.sp_entity_id))?;
        let sp = doc
            .first_child_named(entity, MD, "SPSSODescriptor")
            .ok_or("no SPSSODescriptor")?;
        let mut registration = SpRegistration::default();
        for child in doc.child_elements(sp) {
            if doc.is(child, MD, "KeyDescriptor")
                && matches!(doc.attr(child, "use"), None | Some("signing"))
            {
                let certs = doc
                    .descendants(child)
                    .filter(|n| doc.is(*n, DSIG_NS, "X509Certificate"));
                for cert in certs {
                    let der = samlgate_dsig::decode_base64_text(&doc.text_content(cert))
                        .ok_or("X509Certificate is not base64")?;
                    registration
                        .signing_keys
                        .add(TrustedKey::from_cert_der(&der)?);
                }
            } else if doc.is(child, MD, "SingleLogoutService") {
                let (Some(binding), Some(location)) =
                    (doc.attr(child, "Binding"), doc.attr(child, "Location"))
                else {
                    return Err("SingleLogoutService without Binding or Location".into());
                };
                registration.slo.push(Endpoint {
                    binding: binding.to_owned(),
                    location: location.to_owned(),
                    response_location: doc.attr(child, "ResponseLocation").map(str::to_owned),
                });
            }
        }
        self.register_sp(registration);
        Ok(())
    }

    /// Where to read the SP metadata the first time logout needs it.
    pub fn set_sp_metadata_url(&self, url: impl Into<String>) {
        if let Ok(mut slot) = self.sp_metadata_url.lock() {
            *slot = Some(url.into());
        }
    }

    /// The registered SP, read from its metadata URL when nothing is yet.
    pub(super) async fn sp_registration(&self) -> Result<SpRegistration, String> {
        let known = self.sp.lock().map(|s| s.clone()).unwrap_or_default();
        if !known.is_empty() {
            return Ok(known);
        }
        let url = self.sp_metadata_url.lock().ok().and_then(|u| u.clone());
        let Some(url) = url else {
            return Err("the demo IdP does not know the SP's metadata".into());
        };
        let xml = fetch(&url).await?;
        self.register_sp_metadata(&xml)?;
        Ok(self.sp.lock().map(|s| s.clone()).unwrap_or_default())
    }
}

/// GET `url` (plain HTTP on loopback), at most 1 MiB, within 5 s.
async fn fetch(url: &str) -> Result<Vec<u8>, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let get = async {
        let resp = client.get(uri).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        Limited::new(resp.into_body(), 1024 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), get)
        .await
        .map_err(|_| format!("{url}: timed out"))?
        .map_err(|e| format!("{url}: {e}"))
}
