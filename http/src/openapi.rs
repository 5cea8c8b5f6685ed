//! The OpenAPI 3 document of the whole server, generated from the route table with utoipa: every
//! route, its path parameters, who may call it, and the error shape every route shares.

use axum::http::Method;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, Paths,
    Required, ResponseBuilder, Type,
};

use crate::route_table::RouteSpec;

fn http_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => return None,
    })
}

/// `POST /api/meetings/{id}/agenda` → `post_api_meetings_id_agenda`.
fn operation_id(spec: &RouteSpec) -> String {
    let path: String = spec
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = path
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    format!("{}_{path}", spec.method.as_str().to_lowercase())
}

fn tag(spec: &RouteSpec) -> &'static str {
    let parts: Vec<&str> = spec.path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["admin", ..] => "operator",
        ["api", "almajlis", ..] | ["api", "openapi.json"] => "discovery",
        ["api", "auth", ..] | ["auth", ..] => "sign-in",
        ["ics", ..] => "calendar",
        ["api", first, ..] => first.trim_end_matches(".csv"),
        _ => "other",
    }
}

fn error_schema() -> utoipa::openapi::Schema {
    ObjectBuilder::new()
        .property(
            "error",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("stable error code")),
        )
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "field",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("the field at fault, when one is")),
        )
        .required("error")
        .required("message")
        .into()
}

pub fn document(routes: &[RouteSpec]) -> OpenApi {
    let mut paths = Paths::new();
    for spec in routes {
        let Some(method) = http_method(&spec.method) else {
            continue;
        };
        let mut operation = OperationBuilder::new()
            .operation_id(Some(operation_id(spec)))
            .summary(Some(format!("{} {}", spec.method, spec.path)))
            .tag(tag(spec));
        for segment in spec.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
        }
        if matches!(spec.method, Method::POST | Method::PUT | Method::PATCH) {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                            .build(),
                    )
                    .build(),
            ));
        }
        operation = operation.response(
            "200",
            ResponseBuilder::new()
                .description("success (201 when a record is created, 204 when there is no body)"),
        );
        let error = ResponseBuilder::new()
            .description("a JSON error")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("Error")))
                    .build(),
            )
            .build();
        for status in ["400", "404", "409", "413", "422", "429", "503"] {
            operation = operation.response(status, error.clone());
        }
        if spec.operator {
            operation = operation
                .security(SecurityRequirement::new("operator", Vec::<String>::new()))
                .response("401", error.clone());
        } else if !spec.public {
            operation = operation
                .security(SecurityRequirement::new("session", Vec::<String>::new()))
                .security(SecurityRequirement::new("api_key", Vec::<String>::new()))
                .response("401", error.clone())
                .response("403", error.clone());
        }
        paths.add_path_operation(spec.path, vec![method], operation.build());
    }
    let components = ComponentsBuilder::new()
        .schema("Error", error_schema())
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Host-majlis_session"))),
        )
        .security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mjk_…")
                    .build(),
            ),
        )
        .security_scheme(
            "operator",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("majlis")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("The majlis board portal API. Tenant routes are addressed by Host (`<slug>.<base domain>` or a registered host)."))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_is_in_the_document() {
        let routes = crate::route_table::all_route_specs();
        let doc = serde_json::to_value(document(&routes)).expect("json");
        for spec in &routes {
            let operation = &doc["paths"][spec.path][spec.method.as_str().to_lowercase()];
            assert!(
                operation.is_object(),
                "{} {} has no spec entry",
                spec.method,
                spec.path
            );
        }
        assert_eq!(
            doc["openapi"].as_str().map(|v| v.starts_with("3.")),
            Some(true)
        );
    }

    /// Routes may only be added through the table; a `.route(` call elsewhere would escape the
    /// OpenAPI document and the permission walk.
    #[test]
    fn the_router_has_no_routes_outside_the_table() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut calls = 0;
        let mut stack = vec![src];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).expect("read src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("openapi.rs")
                {
                    let text = std::fs::read_to_string(&path).expect("read");
                    calls += text.matches(".route(").count() + text.matches(".nest(").count();
                }
            }
        }
        // The one call, in `router()`'s loop over the table (this file is not counted).
        assert_eq!(calls, 1, "routes must be added through route_table.rs only");
    }
}
