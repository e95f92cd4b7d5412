//! Integration tests: the real binary on workspaces copied from fixtures/.

mod util;

mod components;
mod config;
mod database;
mod dlrn_api;
mod help;
mod import;
mod jobs;
mod mirror;
mod pipeline;
mod publish;
mod status;
