//! The fake Meta Graph API (Ads Insights, sync and async).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::{
    Call, Common, Fault, dropped_response, group_by, hmac_hex, json_response, maybe_slow, param,
    params, unexpected,
};
use crate::{MetaActionStat, MetaInsight, World};

const BREAKDOWNS: [(&str, &str); 8] = [
    ("age", "25-34"),
    ("gender", "female"),
    ("country", "US"),
    ("region", "California"),
    ("publisher_platform", "facebook"),
    ("platform_position", "feed"),
    ("device_platform", "mobile_app"),
    ("impression_device", "iphone"),
];

const FIELDS: [&str; 20] = [
    "account_id",
    "account_currency",
    "account_name",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "spend",
    "impressions",
    "clicks",
    "reach",
    "frequency",
    "cpm",
    "cpc",
    "ctr",
    "actions",
    "action_values",
    "date_start",
];

#[derive(Debug)]
struct Job {
    params: Vec<(String, String)>,
    account: String,
    polls: usize,
    fails: bool,
}

#[derive(Debug)]
pub(crate) struct MetaState {
    common: Common,
    by_account: BTreeMap<String, Vec<MetaInsight>>,
    jobs: Mutex<Vec<Job>>,
}

pub(crate) fn router(world: Arc<World>, common: Common) -> Router {
    let state = Arc::new(MetaState {
        common,
        by_account: group_by(world.meta_insights(), |row| row.account_id.clone()),
        jobs: Mutex::new(Vec::new()),
    });
    Router::new().fallback(handle).with_state(state)
}

fn meta_error(
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    transient: bool,
    message: &str,
) -> (StatusCode, String) {
    let mut err = json!({
        "message": message,
        "type": if code == 190 || code == 102 { "OAuthException" } else { "GraphMethodException" },
        "code": code,
        "is_transient": transient,
        "fbtrace_id": "AbCdEfGhIjK",
    });
    if let Some(s) = subcode {
        err["error_subcode"] = json!(s);
    }
    (status, json!({ "error": err }).to_string())
}

fn usage_headers(account: &str, n: usize, regain_minutes: u64) -> Vec<(&'static str, String)> {
    let pct = (n % 40) as u64;
    vec![
        (
            "x-business-use-case-usage",
            json!({ account: [{ "type": "ads_insights", "call_count": pct, "total_cputime": pct / 2,
                "total_time": pct / 2, "estimated_time_to_regain_access": regain_minutes }] })
            .to_string(),
        ),
        ("x-fb-ads-insights-throttle", json!({ "app_id_util_pct": pct, "acc_id_util_pct": pct }).to_string()),
    ]
}

async fn handle(State(s): State<Arc<MetaState>>, call: Call) -> Response {
    let (method, uri, _, body) = call.into_parts();
    let c = &s.common;
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let version_ok = segs
        .first()
        .is_some_and(|v| v.starts_with('v') && v.len() > 1);
    if !version_ok || segs.len() < 2 {
        return unexpected(c, &method, &uri);
    }
    let form = (method == Method::POST).then_some(body.as_ref());
    let p = params(&uri, form);
    let n = c.count_data_request();
    let account_hint = segs[1].trim_start_matches("act_").to_owned();

    // Authentication first, like the Graph API.
    let token = param(&p, "access_token");
    if token != Some(c.creds.meta_access_token.as_str()) {
        let (st, b) = meta_error(
            StatusCode::BAD_REQUEST,
            190,
            None,
            false,
            "Invalid OAuth access token - Cannot parse access token",
        );
        c.record(&method, &uri, st.as_u16(), None);
        return json_response(st, &[], b);
    }
    let proof = param(&p, "appsecret_proof");
    let expected_proof = hmac_hex(&c.creds.meta_app_secret, &c.creds.meta_access_token);
    if proof.is_some_and(|pr| pr != expected_proof)
        || (proof.is_none() && c.creds.meta_require_appsecret_proof)
    {
        let msg = if proof.is_some() {
            "Invalid appsecret_proof provided in the API argument"
        } else {
            "API calls from the server require an appsecret_proof argument"
        };
        let (st, b) = meta_error(StatusCode::BAD_REQUEST, 100, None, false, msg);
        c.record(&method, &uri, st.as_u16(), None);
        return json_response(st, &[], b);
    }
    if c.token_expired(n) {
        let (st, b) = meta_error(
            StatusCode::BAD_REQUEST,
            190,
            Some(463),
            false,
            "Error validating access token: Session has expired on Sunday, 29-Nov-26 10:00:00 PST.",
        );
        c.record(&method, &uri, st.as_u16(), Some("expired_token"));
        return json_response(st, &[], b);
    }
    if c.faults.never_recover {
        c.record(&method, &uri, 503, Some("never_recover"));
        let (_, b) = meta_error(
            StatusCode::SERVICE_UNAVAILABLE,
            2,
            None,
            true,
            "Service temporarily unavailable",
        );
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &[], b);
    }
    let fault = c.roll();
    match fault {
        Some(Fault::Throttle) => {
            let minutes = c.faults.throttle_wait_secs.div_ceil(60);
            let headers = usage_headers(&account_hint, 99, minutes);
            let (st, b) = if c.draw(2) == 0 {
                meta_error(
                    StatusCode::BAD_REQUEST,
                    80000,
                    Some(2446079),
                    true,
                    "There have been too many calls from this ad-account. Wait a bit and try again.",
                )
            } else {
                meta_error(
                    StatusCode::BAD_REQUEST,
                    17,
                    Some(2446079),
                    true,
                    "User request limit reached",
                )
            };
            c.record(&method, &uri, st.as_u16(), Some("throttle"));
            return json_response(st, &headers, b);
        }
        Some(Fault::ServerError(code)) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (_, b) = meta_error(st, 1, None, true, "An unknown error occurred");
            c.record(&method, &uri, code, Some("server_error"));
            return json_response(st, &[], b);
        }
        _ => {}
    }
    let slow = maybe_slow(c, fault, &method, &uri).await;
    let headers = usage_headers(&account_hint, n, 0);
    let result = route(&s, &method, &segs, &p);
    let (status, body) = match result {
        Some(r) => r,
        None => return unexpected(c, &method, &uri),
    };
    if fault == Some(Fault::Drop) && status == StatusCode::OK {
        c.record(&method, &uri, 0, Some("drop"));
        return dropped_response(&headers, body);
    }
    c.record(&method, &uri, status.as_u16(), slow);
    json_response(status, &headers, body)
}

fn route(
    s: &MetaState,
    method: &Method,
    segs: &[&str],
    p: &[(String, String)],
) -> Option<(StatusCode, String)> {
    match (method, segs.len()) {
        (&Method::GET, 3) if segs[1].starts_with("act_") && segs[2] == "insights" => {
            let account = segs[1].trim_start_matches("act_");
            if let Some(refusal) = too_large(s, p) {
                return Some(refusal);
            }
            Some(insights(s, account, p, segs))
        }
        (&Method::POST, 3) if segs[1].starts_with("act_") && segs[2] == "insights" => {
            let account = segs[1].trim_start_matches("act_").to_owned();
            if !s.by_account.contains_key(&account) {
                return Some(unknown_account(&account));
            }
            if let Err(e) = parse_query(p) {
                return Some(e);
            }
            let mut jobs = s.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            let fails = jobs.len() < s.common.faults.failed_async_jobs;
            jobs.push(Job {
                params: p.to_vec(),
                account,
                polls: 0,
                fails,
            });
            Some((
                StatusCode::OK,
                json!({ "report_run_id": format!("{}", 6_000_000_000u64 + jobs.len() as u64) })
                    .to_string(),
            ))
        }
        (&Method::GET, 2) if segs[1].starts_with("act_") => {
            let account = segs[1].trim_start_matches("act_");
            let rows = s.by_account.get(account);
            Some(match rows {
                None => unknown_account(account),
                Some(r) => ad_account(s, segs[1], account, r, p),
            })
        }
        (&Method::GET, 2) => {
            let idx = job_index(segs[1])?;
            let mut jobs = s.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            let job = jobs.get_mut(idx)?;
            job.polls += 1;
            let done_at = s.common.faults.async_polls_before_done.max(1);
            let (status, pct) = if job.polls >= done_at {
                if job.fails {
                    ("Job Failed", 100)
                } else {
                    ("Job Completed", 100)
                }
            } else if job.polls == 1 {
                ("Job Not Started", 0)
            } else if job.polls + 1 == done_at {
                ("Job Running", 100)
            } else {
                ("Job Running", 50)
            };
            let mut body = json!({
                "id": segs[1], "account_id": job.account, "async_status": status,
                "async_percent_completion": pct,
            });
            if status == "Job Failed" {
                body["error_code"] = json!(2601);
                body["error_message"] =
                    json!("Report job failed: too much data; try a smaller date range");
            }
            Some((StatusCode::OK, body.to_string()))
        }
        (&Method::GET, 3) if segs[2] == "insights" => {
            let idx = job_index(segs[1])?;
            let jobs = s.jobs.lock().unwrap_or_else(PoisonError::into_inner);
            let job = jobs.get(idx)?;
            if job.polls < s.common.faults.async_polls_before_done.max(1) || job.fails {
                return Some(meta_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    Some(1487534),
                    false,
                    "The report is not ready",
                ));
            }
            let mut merged = job.params.clone();
            // Paging parameters of this call override the job's.
            for key in ["after", "limit"] {
                merged.retain(|(k, _)| k != key);
                if let Some(v) = super::param(p, key) {
                    merged.push((key.into(), v.into()));
                }
            }
            let account = job.account.clone();
            drop(jobs);
            Some(insights(s, &account, &merged, segs))
        }
        _ => None,
    }
}

/// `GET act_<id>`: the ad account node. Like the Graph API it answers `id` and the
/// `fields` asked for; a field the node does not have is error 100.
fn ad_account(
    s: &MetaState,
    node: &str,
    account: &str,
    rows: &[MetaInsight],
    p: &[(String, String)],
) -> (StatusCode, String) {
    let mut out = Map::new();
    out.insert("id".into(), json!(node));
    let fields = param(p, "fields").unwrap_or_default();
    for f in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let value = match f {
            "id" => json!(node),
            "account_id" => json!(account),
            "name" => json!(format!("Sandbox ad account {account}")),
            "currency" => json!(
                rows.first()
                    .map(|x| x.account_currency.as_str())
                    .unwrap_or("USD")
            ),
            "timezone_name" => json!(s.common.faults.meta_timezone_name),
            _ => {
                return meta_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    None,
                    false,
                    &format!(
                        "(#100) Tried accessing nonexisting field ({f}) on node type (AdAccount)"
                    ),
                );
            }
        };
        out.insert(f.into(), value);
    }
    (StatusCode::OK, Value::Object(out).to_string())
}

/// With `meta_max_range_days` set, the refusal of a synchronous insights request whose
/// `time_range` covers more days (every page of it: the `next` links carry the range).
/// The shape is the one connectors meet (Airbyte's and the Singer tap's logs): HTTP 500,
/// code 1, subcode 99, the advice in `message` and `error_user_msg`.
fn too_large(s: &MetaState, p: &[(String, String)]) -> Option<(StatusCode, String)> {
    let max = s.common.faults.meta_max_range_days?;
    let q = parse_query(p).ok()?;
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let days = (day(&q.until)? - day(&q.since)?).num_days() + 1;
    if days <= i64::from(max) {
        return None;
    }
    let said = "Please reduce the amount of data you're asking for, then retry your request";
    let (status, body) = meta_error(StatusCode::INTERNAL_SERVER_ERROR, 1, Some(99), false, said);
    let mut v: Value = serde_json::from_str(&body).ok()?;
    v["error"]["type"] = json!("OAuthException");
    v["error"]["error_user_title"] = json!("Please reduce the amount of data");
    v["error"]["error_user_msg"] = json!(said);
    Some((status, v.to_string()))
}

fn job_index(id: &str) -> Option<usize> {
    let n: u64 = id.parse().ok()?;
    n.checked_sub(6_000_000_001).map(|i| i as usize)
}

fn unknown_account(account: &str) -> (StatusCode, String) {
    meta_error(
        StatusCode::BAD_REQUEST,
        100,
        Some(33),
        false,
        &format!(
            "Unsupported get request. Object with ID 'act_{account}' does not exist, cannot be loaded due to missing permissions"
        ),
    )
}

struct Query {
    since: String,
    until: String,
    level: String,
    fields: Vec<String>,
    breakdowns: Vec<String>,
    windows: Option<Vec<String>>,
}

fn parse_query(p: &[(String, String)]) -> Result<Query, (StatusCode, String)> {
    let bad = |m: String| meta_error(StatusCode::BAD_REQUEST, 100, None, false, &m);
    let tr: Value = serde_json::from_str(param(p, "time_range").unwrap_or("{}"))
        .map_err(|_| bad("(#100) time_range must be a JSON object".into()))?;
    let since = tr["since"]
        .as_str()
        .ok_or_else(|| bad("(#100) time_range.since is required".into()))?
        .to_owned();
    let until = tr["until"]
        .as_str()
        .ok_or_else(|| bad("(#100) time_range.until is required".into()))?
        .to_owned();
    let level = param(p, "level").unwrap_or("account").to_owned();
    if !["campaign", "adset", "ad"].contains(&level.as_str()) {
        return Err(bad(format!(
            "(#100) level {level} is not supported by this fake (campaign, adset, ad)"
        )));
    }
    let fields: Vec<String> = param(p, "fields")
        .unwrap_or_default()
        .split(',')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    for f in &fields {
        if !FIELDS.contains(&f.as_str()) && f != "date_stop" {
            return Err(bad(format!("(#100) {f} is not valid for fields param")));
        }
    }
    let breakdowns: Vec<String> = match param(p, "breakdowns") {
        None => Vec::new(),
        Some(b) if b.starts_with('[') => serde_json::from_str(b)
            .map_err(|_| bad("(#100) breakdowns must be a JSON array".into()))?,
        Some(b) => b
            .split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    for b in &breakdowns {
        if !BREAKDOWNS.iter().any(|(k, _)| k == b) {
            return Err(meta_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(1504041),
                false,
                &format!("(#100) {b} is not a valid breakdown"),
            ));
        }
    }
    let windows =
        match param(p, "action_attribution_windows") {
            None => None,
            Some(w) => Some(serde_json::from_str::<Vec<String>>(w).map_err(|_| {
                bad("(#100) action_attribution_windows must be a JSON array".into())
            })?),
        };
    // The world attributes each conversion to 7 days after a click or 1 day after a
    // view: other windows have no figures here, and a zero would look like an answer.
    if let Some(w) = windows
        .iter()
        .flatten()
        .find(|w| !matches!(w.as_str(), "7d_click" | "1d_view"))
    {
        return Err(bad(format!(
            "(#100) this fake serves the attribution windows 7d_click and 1d_view only, not {w}"
        )));
    }
    if param(p, "time_increment").is_some_and(|t| t != "1") {
        return Err(bad("(#100) this fake serves time_increment=1 only".into()));
    }
    Ok(Query {
        since,
        until,
        level,
        fields,
        breakdowns,
        windows,
    })
}

fn insights(
    s: &MetaState,
    account: &str,
    p: &[(String, String)],
    segs: &[&str],
) -> (StatusCode, String) {
    let Some(rows) = s.by_account.get(account) else {
        return unknown_account(account);
    };
    let q = match parse_query(p) {
        Ok(q) => q,
        Err(e) => return e,
    };
    let limit = param(p, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, s.common.faults.meta_page_limit_max);
    let offset = param(p, "after")
        .and_then(|a| a.strip_prefix("QVFI"))
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let clock = &s.common.clock;
    let clocked: Vec<MetaInsight>;
    let selected: Vec<&MetaInsight> = if clock.today().is_none() {
        rows.iter()
            .filter(|r| {
                r.date_start.as_str() >= q.since.as_str()
                    && r.date_start.as_str() <= q.until.as_str()
            })
            .collect()
    } else {
        // The clock is on: nothing after today, the last days' conversions still growing.
        clocked = rows
            .iter()
            .filter(|r| {
                r.date_start.as_str() >= q.since.as_str()
                    && r.date_start.as_str() <= q.until.as_str()
            })
            .filter_map(|r| clock.maturity(&r.date_start).map(|m| matured(r, m)))
            .collect();
        clocked.iter().collect()
    };
    let repeat = s.common.faults.meta_repeat.max(1);
    let total = selected.len() * repeat;
    let page: Vec<Value> = (offset..total.min(offset + limit))
        .map(|k| {
            let row = selected[k % selected.len()];
            if repeat == 1 {
                render(row, &q)
            } else {
                let mut copy = row.clone();
                copy.campaign_id = format!("{}-{}", row.campaign_id, k / selected.len());
                render(&copy, &q)
            }
        })
        .collect();
    let end = offset + page.len();
    let after = if s.common.faults.page_loop {
        offset
    } else {
        end
    };
    let mut paging = json!({ "cursors": { "before": format!("QVFI{offset:08}"), "after": format!("QVFI{after:08}") } });
    if end < total || s.common.faults.page_loop {
        let mut pairs: Vec<(String, String)> =
            p.iter().filter(|(k, _)| k != "after").cloned().collect();
        pairs.push(("after".into(), format!("QVFI{after:08}")));
        if !pairs.iter().any(|(k, _)| k == "limit") {
            pairs.push(("limit".into(), limit.to_string()));
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        paging["next"] = json!(format!(
            "{}/{}?{}",
            s.common.base_url,
            segs.join("/"),
            query
        ));
    }
    (
        StatusCode::OK,
        json!({ "data": page, "paging": paging }).to_string(),
    )
}

/// `r` with its actions and action values scaled by `m` (late attribution).
fn matured(r: &MetaInsight, m: f64) -> MetaInsight {
    if m >= 1.0 {
        return r.clone();
    }
    let scale = |v: &str, money: bool| -> String {
        let x = v.parse::<f64>().unwrap_or(0.0) * m;
        if money {
            format!("{x:.2}")
        } else {
            format!("{}", x.floor() as i64)
        }
    };
    let stats = |list: &Option<Vec<MetaActionStat>>, money: bool| {
        list.as_ref().map(|l| {
            l.iter()
                .map(|a| MetaActionStat {
                    action_type: a.action_type.clone(),
                    value: scale(&a.value, money),
                    click_7d: a.click_7d.as_deref().map(|v| scale(v, money)),
                    view_1d: a.view_1d.as_deref().map(|v| scale(v, money)),
                })
                .collect()
        })
    };
    MetaInsight {
        actions: stats(&r.actions, false),
        action_values: stats(&r.action_values, true),
        ..r.clone()
    }
}

fn window_stat(stat: &MetaActionStat, windows: &Option<Vec<String>>) -> Value {
    let mut v = json!({ "action_type": stat.action_type });
    let Some(ws) = windows else {
        v["value"] = json!(stat.value);
        if let Some(c) = &stat.click_7d {
            v["7d_click"] = json!(c);
        }
        if let Some(d) = &stat.view_1d {
            v["1d_view"] = json!(d);
        }
        return v;
    };
    // `value` stays the account's default attribution (7-day click plus 1-day view),
    // whatever the windows: each requested window comes as its own key, left out when
    // it attributed nothing.
    v["value"] = json!(stat.value);
    for w in ws {
        let part = match w.as_str() {
            "7d_click" => stat.click_7d.as_deref(),
            "1d_view" => stat.view_1d.as_deref(),
            _ => None,
        };
        if let Some(part) = part.filter(|p| p.parse::<f64>().is_ok_and(|x| x != 0.0)) {
            v[w.as_str()] = json!(part);
        }
    }
    v
}

fn render(r: &MetaInsight, q: &Query) -> Value {
    let mut o = Map::new();
    let impressions: f64 = r.impressions.parse().unwrap_or(0.0);
    let clicks: f64 = r.clicks.parse().unwrap_or(0.0);
    let spend: f64 = r.spend.parse().unwrap_or(0.0);
    let reach = (impressions * 0.62).round();
    for f in &q.fields {
        let v = match f.as_str() {
            "account_id" => json!(r.account_id),
            "account_currency" => json!(r.account_currency),
            "account_name" => json!(format!("Account {}", r.account_id)),
            "campaign_id" => json!(r.campaign_id),
            "campaign_name" => json!(r.campaign_name),
            "adset_id" if q.level != "campaign" => json!(format!("{}1", r.campaign_id)),
            "adset_name" if q.level != "campaign" => json!(format!("{} - ad set", r.campaign_name)),
            "ad_id" if q.level == "ad" => json!(format!("{}11", r.campaign_id)),
            "ad_name" if q.level == "ad" => json!(format!("{} - ad", r.campaign_name)),
            "spend" => json!(r.spend),
            "impressions" => json!(r.impressions),
            "clicks" => json!(r.clicks),
            "reach" => json!(format!("{reach}")),
            "frequency" if reach > 0.0 => json!(format!("{:.6}", impressions / reach)),
            "cpm" if impressions > 0.0 => json!(format!("{:.6}", spend / impressions * 1000.0)),
            "cpc" if clicks > 0.0 => json!(format!("{:.6}", spend / clicks)),
            "ctr" if impressions > 0.0 => json!(format!("{:.6}", clicks / impressions * 100.0)),
            "actions" => match &r.actions {
                Some(a) => Value::Array(a.iter().map(|s| window_stat(s, &q.windows)).collect()),
                None => continue,
            },
            "action_values" => match &r.action_values {
                Some(a) => Value::Array(a.iter().map(|s| window_stat(s, &q.windows)).collect()),
                None => continue,
            },
            _ => continue,
        };
        o.insert(f.clone(), v);
    }
    for b in &q.breakdowns {
        if let Some((_, v)) = BREAKDOWNS.iter().find(|(k, _)| k == b) {
            o.insert(b.clone(), json!(v));
        }
    }
    o.insert("date_start".into(), json!(r.date_start));
    o.insert("date_stop".into(), json!(r.date_stop));
    Value::Object(o)
}
