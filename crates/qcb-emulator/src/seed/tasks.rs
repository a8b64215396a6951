//! Placeholder: filled in below.

use super::Seeder;

pub fn seed(_s: &mut Seeder<'_>) {}

use crate::error::ApiResult;
use crate::kinds::BuildCtx;
use serde_json::Value;

pub fn build_scheduling_task(_ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    Ok(v)
}
