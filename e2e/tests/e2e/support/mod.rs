//! Helpers shared by e2e tests that need more than the fixture library.
#![allow(dead_code)]

pub mod operator;
pub mod secrets;
