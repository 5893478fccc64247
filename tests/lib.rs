//! Integration tests: each runs the real `meshgen` binary in a temporary
//! folder and checks its stdout, stderr, exit code and files.

mod generate;
mod support;

mod bookinfo;
mod build;
mod check;
mod corpus;
mod explain;
mod gitops;
mod golden;
mod large;
mod safety;
