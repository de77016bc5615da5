//! Game decisions' random stream: the API's [`SplitMix64`].

pub use tickforge_api::SplitMix64;
