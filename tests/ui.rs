//! What `#[private_model]` refuses, and how it says so: each `tests/ui/*.rs` must fail
//! to compile with exactly the messages in its `.stderr`. After a toolchain upgrade
//! changes rustc's rendering, regenerate with `TRYBUILD=overwrite cargo test --test ui`
//! and review the diff.

#[test]
fn macro_errors_point_at_the_users_code() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
