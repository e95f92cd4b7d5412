//! Integration tests: the real binary on workspaces copied from fixtures/.

mod browser;
mod harness;
mod util;

mod components;
mod config;
mod containers;
mod crash;
mod database;
mod disk;
mod dlrn_api;
mod dlrn_diff;
mod from_dlrn;
mod fuzz;
mod help;
mod hostile;
mod import;
mod jobs;
mod load;
mod mirror;
mod pipeline;
mod publish;
mod query_plans;
mod quiet;
mod releases;
mod remote_images;
mod slurm;
mod snapshots;
mod status;
mod trust;
mod updates;
