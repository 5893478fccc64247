//! Integration tests: each runs the real `meshgen` binary in a temporary
//! folder and checks its stdout, stderr, exit code and files.

mod generate;
mod support;

mod bookinfo;
mod build;
mod check;
mod cli;
mod conformance;
mod corpus;
mod explain;
mod gateway_api;
mod gitops;
mod golden;
mod ingress;
mod install;
mod large;
mod limits;
mod output;
mod releases;
mod safety;
mod scale;
mod security;
mod streams;
mod templates;
