//! `promoter`: runs RDO-style promotion pipelines on one machine, with its
//! state in one SQLite file. The binary (`main.rs`) only parses the command
//! line and maps the result to an exit code; everything else is here.

pub mod api;
pub mod assess;
pub mod atomic;
pub mod build_env;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod decide;
pub mod duration;
pub mod error;
pub mod exec;
pub mod fault;
pub mod hex;
pub mod ident;
pub mod input;
pub mod jobs;
pub mod mirror;
pub mod model;
pub mod pool;
pub mod promote;
pub mod publish;
pub mod registry;
pub mod report;
pub mod signals;
pub mod store;
pub mod terminal;
pub mod trunk;
pub mod updates;
pub mod usecase;
