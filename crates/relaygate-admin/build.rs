//! Rebuilds the crate when a dashboard file is added, removed or changed (rust-embed only
//! tracks files that existed at the last build).

fn main() {
    println!("cargo:rerun-if-changed=dashboard");
}
