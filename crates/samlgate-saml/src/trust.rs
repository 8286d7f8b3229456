//! Which keys are trusted for which issuer.

use samlgate_dsig::TrustedKeys;
use samlgate_xml::Reason;

use crate::SamlError;

/// One identity provider as its metadata describes it.
#[derive(Debug, Clone, Default)]
pub struct IdpEntity {
    /// The IdP's entityID, compared exactly with the Issuer.
    pub entity_id: String,
    /// Keys trusted for this IdP's signatures (all of them: rollover).
    pub signing_keys: TrustedKeys,
    /// SingleSignOnService endpoints, in document order.
    pub sso: Vec<Endpoint>,
    /// SingleLogoutService endpoints, in document order.
    pub slo: Vec<Endpoint>,
    /// NameIDFormat values the IdP supports.
    pub name_id_formats: Vec<String>,
    /// The IdP wants signed AuthnRequests.
    pub want_authn_requests_signed: bool,
}

/// A protocol endpoint of metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The binding URI (HTTP-Redirect, HTTP-POST, ...).
    pub binding: String,
    /// Where requests go.
    pub location: String,
    /// Where responses go, when it differs.
    pub response_location: Option<String>,
}

impl Endpoint {
    /// Where a response to this endpoint's owner goes: ResponseLocation
    /// when the metadata gives one, else Location (metadata §2.2.2).
    pub fn response_url(&self) -> &str {
        self.response_location.as_deref().unwrap_or(&self.location)
    }
}

impl IdpEntity {
    /// The first endpoint of `endpoints` with `binding`.
    pub fn endpoint<'e>(endpoints: &'e [Endpoint], binding: &str) -> Option<&'e Endpoint> {
        endpoints.iter().find(|e| e.binding == binding)
    }

    /// The SingleLogoutService to send logout messages to: HTTP-Redirect
    /// when offered, else HTTP-POST; None when the IdP has neither (then
    /// logout is local only).
    pub fn logout_endpoint(&self) -> Option<&Endpoint> {
        Self::endpoint(&self.slo, crate::BINDING_HTTP_REDIRECT)
            .or_else(|| Self::endpoint(&self.slo, crate::BINDING_HTTP_POST))
    }
}

/// The trust configuration of one validation.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    idps: Vec<IdpEntity>,
    /// Keys trusted for any issuer (`--idp-cert`).
    any_issuer: TrustedKeys,
}

impl Trust {
    /// No trust at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds IdPs from metadata; issuers are then checked against them.
    pub fn add_idp(&mut self, idp: IdpEntity) {
        match self.idps.iter_mut().find(|i| i.entity_id == idp.entity_id) {
            Some(existing) => {
                for k in idp.signing_keys.iter() {
                    existing.signing_keys.add(k.clone());
                }
            }
            None => self.idps.push(idp),
        }
    }

    /// Adds keys trusted whatever the issuer (explicit certificate trust).
    pub fn add_any_issuer_keys(&mut self, keys: &TrustedKeys) {
        for k in keys.iter() {
            self.any_issuer.add(k.clone());
        }
    }

    /// The keys trusted for `issuer`. An issuer that no metadata names is
    /// `unknown_issuer` unless certificates were trusted for any issuer.
    pub fn keys_for(&self, issuer: Option<&str>) -> Result<TrustedKeys, SamlError> {
        let idp = issuer.and_then(|i| self.idps.iter().find(|e| e.entity_id == i));
        match idp {
            Some(idp) => {
                let mut keys = idp.signing_keys.clone();
                for k in self.any_issuer.iter() {
                    keys.add(k.clone());
                }
                Ok(keys)
            }
            None if !self.any_issuer.is_empty() => Ok(self.any_issuer.clone()),
            None => Err(SamlError::new(
                Reason::UnknownIssuer,
                format!(
                    "issuer {:?} is not a configured identity provider",
                    issuer.unwrap_or("").chars().take(200).collect::<String>()
                ),
            )),
        }
    }

    /// True when at least one key is configured.
    pub fn is_empty(&self) -> bool {
        self.idps.is_empty() && self.any_issuer.is_empty()
    }
}
