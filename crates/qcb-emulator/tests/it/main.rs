//! Integration tests, one binary for the crate (each test file links the whole dependency
//! set, so one binary per file would multiply build time and disk).

mod support;

mod behaviour;
mod contract;
mod openapi_support;
mod qlik_api_client;
mod request_validation;
mod seed_content_config;
mod seed_tasks_conn;
