//! API errors: every one answers `{"error":{"code","message","field"?}}` with a 4xx/5xx status.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::ports::PortError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is wrong; `field` names the culprit when one field is at fault.
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 408: the body did not arrive in time (`http.request_body_timeout_ms`); the
    /// connection is closed after the answer.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    /// 429: this client placed too many orders too fast.
    #[error("too many orders from this address; retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// 429: too many wrong admin keys from this address (or from everywhere); the key
    /// presented was not checked.
    #[error("too many failed admin authentications; retry in {retry_after_secs} s")]
    AuthBlocked { retry_after_secs: u64 },
    /// 503: a backend is unavailable; the client may retry (same Idempotency-Key).
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or corrupt data. The details go to the log, not to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<super::limits::Blocked> for ApiError {
    fn from(b: super::limits::Blocked) -> Self {
        ApiError::AuthBlocked {
            retry_after_secs: b.retry_after_secs,
        }
    }
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code: "VALIDATION_ERROR",
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn invalid_code(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError::Invalid {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Unauthorized(_) => "UNAUTHORIZED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::RequestTimeout(_) => "REQUEST_TIMEOUT",
            ApiError::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            ApiError::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::Unprocessable(_) => "IDEMPOTENCY_KEY_REUSED",
            ApiError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::TooManyRequests { .. } => "RATE_LIMITED",
            ApiError::AuthBlocked { .. } => "TOO_MANY_AUTH_FAILURES",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { field, .. } | ApiError::Conflict { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `MISSING_FIELD`, `RATE_LIMITED`, `NOT_FOUND`, …
    #[schema(example = "MISSING_FIELD")]
    pub code: String,
    /// For people: what is wrong and how to fix it.
    pub message: String,
    /// The request field at fault (`items[0].quantity`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorResponse {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorResponse {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                field: None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } | ApiError::AuthBlocked { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error = format!("{e:#}"), "internal error");
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::Conflict {
                code: "IDEMPOTENCY_IN_FLIGHT",
                ..
            } => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::AuthBlocked { retry_after_secs } => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, "ApiKey header=\"X-API-Key\""));
            }
            ApiError::RequestTimeout(_) => {
                // The rest of the body may still be on its way: never read it as a request.
                res.force_close();
            }
            _ => {}
        }
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        res.json(ErrorResponse {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                field: self.field().map(str::to_owned),
            },
        })
    }
}

impl From<PortError> for ApiError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Unavailable(m) => {
                tracing::warn!(error = %m, "backend unavailable");
                ApiError::Unavailable("a backend is unavailable; retry shortly".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

/// Why an order was not placed, as the client hears it: the one place the intake use case's
/// outcomes become HTTP statuses.
impl From<crate::place_order::PlaceError> for ApiError {
    fn from(e: crate::place_order::PlaceError) -> Self {
        use crate::place_order::PlaceError;
        match e {
            PlaceError::Refused {
                code,
                field,
                message,
            } => ApiError::Invalid {
                code,
                message,
                field: Some(field),
            },
            PlaceError::Conflict {
                code,
                field,
                message,
            } => ApiError::Conflict {
                code,
                message,
                field,
            },
            PlaceError::KeyInFlight(message) => ApiError::Conflict {
                code: "IDEMPOTENCY_IN_FLIGHT",
                message: message.into(),
                field: None,
            },
            e @ PlaceError::KeyReused => ApiError::Unprocessable(e.to_string()),
            PlaceError::Backend(e) => e.into(),
            PlaceError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<crate::invoice::PaymentError> for ApiError {
    fn from(e: crate::invoice::PaymentError) -> Self {
        use crate::invoice::PaymentError;
        match e {
            e @ PaymentError::AlreadyRecorded { .. } => ApiError::Conflict {
                code: "PAYMENT_ALREADY_RECORDED",
                message: e.to_string(),
                field: Some("reference".into()),
            },
            e @ PaymentError::NotAwaiting { .. } => ApiError::Conflict {
                code: "NOT_AWAITING_PAYMENT",
                message: e.to_string(),
                field: None,
            },
            PaymentError::Backend(e) => e.into(),
        }
    }
}

/// JSON 404 for unknown routes.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound("no such resource".into()).error_response()
}

/// JSON 405 for known routes with another method, with the `Allow` header RFC 9110 asks for
/// (`allow`: the methods the resource answers, e.g. `GET, POST`).
pub async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(ErrorResponse::new(
            "METHOD_NOT_ALLOWED",
            format!("method not allowed on this resource; it answers {allow}"),
        ))
}
