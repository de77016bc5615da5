//! What the repository promises its users beside the code: the licences
//! the workspace manifest names are there, whole, and the README says so.

use std::path::Path;

fn read(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::read_to_string(root.join(name)).unwrap_or_else(|e| panic!("{name} at the repository's root: {e}"))
}

#[test]
fn the_licences_the_manifest_names_are_in_the_repository() {
    assert!(read("Cargo.toml").contains(r#"license = "MIT OR Apache-2.0""#), "the workspace's licence expression");
    let mit = read("LICENSE-MIT");
    assert!(mit.starts_with("MIT License\n"), "LICENSE-MIT is the MIT licence");
    assert!(mit.contains("Copyright (c) ") && mit.contains("Permission is hereby granted, free of charge"));
    let apache = read("LICENSE-APACHE");
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
    assert!(apache.contains("END OF TERMS AND CONDITIONS"), "LICENSE-APACHE is whole");
    let readme = read("README.md");
    assert!(readme.contains("(LICENSE-MIT)") && readme.contains("(LICENSE-APACHE)"), "the README links both");
}
