//! A request checked and made ready before anything is sent: its method,
//! size and header limits, its grants, the secrets substituted into its
//! URL and headers (a URL that is one secret kept whole), and how it
//! follows a redirect (which parts carry credentials and must not cross
//! origins).

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::{
    HOST_OWNED_HEADERS, HttpError, HttpSession, MAX_REQUEST_HEADER_BYTES, MAX_REQUEST_HEADERS,
    MAX_URL_BYTES, Request, allowed_method, clip, deny,
};
use crate::runtime::secrets::{Placement, SecretBook, Tokens};

impl HttpSession {
    /// Check the request's shape and grants and substitute secrets in its
    /// URL and headers; the body is returned for [`Self::substitute_body`].
    /// Nothing is sent yet.
    pub(super) fn prepare(
        &self,
        req: Request,
        tokens: &Tokens,
    ) -> Result<(Prepared, Option<Vec<u8>>), HttpError> {
        let method = allowed_method(&req.method)?;
        if req.url.len() > MAX_URL_BYTES {
            return Err(HttpError::Invalid(format!(
                "the URL is {} bytes long; at most {MAX_URL_BYTES} are allowed",
                req.url.len()
            )));
        }
        if req.headers.len() > MAX_REQUEST_HEADERS {
            return Err(HttpError::Invalid(format!(
                "{} request headers; at most {MAX_REQUEST_HEADERS} are allowed",
                req.headers.len()
            )));
        }
        let header_bytes: usize = req.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        if header_bytes > MAX_REQUEST_HEADER_BYTES {
            return Err(HttpError::Invalid(format!(
                "request headers take {header_bytes} bytes; at most {MAX_REQUEST_HEADER_BYTES} are allowed"
            )));
        }
        if let Some(body) = &req.body
            && body.len() > self.request_cap
        {
            return Err(HttpError::Invalid(format!(
                "the request body is {} bytes; at most {} are allowed",
                body.len(),
                self.request_cap
            )));
        }
        // A URL that is one secret (a Slack incoming webhook URL) is the
        // value itself, checked like any URL and against the secret's hosts.
        if let Some((name, value)) = self.secrets.whole_url(&req.url).map_err(deny)? {
            let url = Url::parse(&value).map_err(|_| {
                HttpError::Invalid(format!("secret `{name}` does not hold a valid URL"))
            })?;
            self.policy
                .check_url(&url)
                .map_err(|e| HttpError::Denied(e.to_string()))?;
            self.secrets.check_whole_url(&name, &url).map_err(deny)?;
            return self.finish_prepare(method, url, true, req, tokens);
        }
        let template =
            Url::parse(&req.url).map_err(|e| HttpError::Invalid(format!("bad URL: {e}")))?;
        if template
            .host_str()
            .is_some_and(|h| h.contains(['{', '}']) || h.contains("%7B"))
        {
            return Err(HttpError::Denied(
                "secret placeholders are not allowed in a URL's scheme, host or port".into(),
            ));
        }
        self.policy
            .check_url(&template)
            .map_err(|e| HttpError::Denied(e.to_string()))?;
        let url_has_secret = SecretBook::has_placeholder(&req.url);
        let url = match self
            .secrets
            .substitute(&req.url, &template, Placement::Url, tokens)
            .map_err(deny)?
        {
            // Nothing substituted: the template is the URL (parsing it
            // again was a tenth of the host's work per request).
            std::borrow::Cow::Borrowed(_) => template.clone(),
            std::borrow::Cow::Owned(url) => {
                Url::parse(&url).map_err(|e| HttpError::Invalid(format!("bad URL: {e}")))?
            }
        };
        if url.origin() != template.origin() {
            return Err(HttpError::Denied(
                "secret placeholders are not allowed in a URL's scheme, host or port".into(),
            ));
        }
        self.finish_prepare(method, url, url_has_secret, req, tokens)
    }

    /// The headers of a request whose URL is settled.
    fn finish_prepare(
        &self,
        method: Method,
        url: Url,
        url_has_secret: bool,
        req: Request,
        tokens: &Tokens,
    ) -> Result<(Prepared, Option<Vec<u8>>), HttpError> {
        let mut headers = HeaderMap::with_capacity(req.headers.len());
        let mut secret_headers = Vec::new();
        for (name, value) in &req.headers {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::Invalid(format!("invalid header name `{}`", clip(name))))?;
            if HOST_OWNED_HEADERS.contains(&header.as_str()) {
                return Err(HttpError::Invalid(format!(
                    "header `{header}` is set by the host, not by connectors"
                )));
            }
            if SecretBook::has_placeholder(value) {
                secret_headers.push(header.clone());
            }
            let value = self
                .secrets
                .substitute(value, &url, Placement::Header, tokens)
                .map_err(deny)?;
            // The message must not include the value: it may hold a secret.
            let value = HeaderValue::from_str(&value)
                .map_err(|_| HttpError::Invalid(format!("invalid value for header `{header}`")))?;
            // Bounded above, so the map never reaches its capacity limit
            // (which panics).
            headers.append(header, value);
        }
        let prepared = Prepared {
            method,
            url,
            headers,
            secret_headers,
            body: None,
            body_has_secret: false,
            url_has_secret,
            keep_body: false,
        };
        Ok((prepared, req.body))
    }
}

/// A checked request, ready to send, that knows which parts carry secrets.
pub(super) struct Prepared {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) headers: HeaderMap,
    pub(super) secret_headers: Vec<HeaderName>,
    pub(super) body: Option<Vec<u8>>,
    pub(super) body_has_secret: bool,
    pub(super) url_has_secret: bool,
    pub(super) keep_body: bool,
}

impl Prepared {
    /// Follow a redirect: per RFC 9110, 303 (and 301/302 after POST) become
    /// GET without a body; another origin loses every credential.
    pub(super) fn redirect(&mut self, status: StatusCode, next: Url) -> Result<(), HttpError> {
        let cross_origin = next.origin() != self.url.origin();
        let to_get = status == StatusCode::SEE_OTHER
            || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                && self.method == Method::POST);
        if to_get {
            self.method = Method::GET;
            self.body = None;
            self.body_has_secret = false;
            self.headers.remove(reqwest::header::CONTENT_TYPE);
            self.headers.remove(reqwest::header::CONTENT_LENGTH);
        }
        if cross_origin {
            if self.url_has_secret {
                return Err(HttpError::Denied(
                    "redirect to another origin refused: the request URL contained secrets".into(),
                ));
            }
            if self.body_has_secret {
                return Err(HttpError::Denied(
                    "redirect to another origin would resend a body containing secrets".into(),
                ));
            }
            for name in [
                reqwest::header::AUTHORIZATION,
                reqwest::header::COOKIE,
                reqwest::header::PROXY_AUTHORIZATION,
            ]
            .into_iter()
            .chain(self.secret_headers.drain(..))
            {
                self.headers.remove(name);
            }
        }
        self.url = next;
        Ok(())
    }
}
