//! Names from the ad platforms' own exports that more than one crate reads.

/// Meta Ads Insights breakdowns LiftOS knows (each a Utf8 column named as Meta names it):
/// the connector accepts these in a request, and transform's Meta mapping carries them
/// into the unified table.
pub const META_BREAKDOWNS: [&str; 8] = [
    "age",
    "gender",
    "country",
    "region",
    "publisher_platform",
    "platform_position",
    "device_platform",
    "impression_device",
];

/// The JSON name of a Google API field (`cost_micros` → `costMicros`): Google's REST
/// APIs answer in the proto3 JSON mapping, which writes snake_case fields in lowerCamelCase.
///
/// ```
/// assert_eq!(liftos_core::platforms::google_json_name("cost_micros"), "costMicros");
/// ```
pub fn google_json_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut up = false;
    for ch in field.chars() {
        if ch == '_' {
            up = true;
        } else if up {
            out.extend(ch.to_uppercase());
            up = false;
        } else {
            out.push(ch);
        }
    }
    out
}
