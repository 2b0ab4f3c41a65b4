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
