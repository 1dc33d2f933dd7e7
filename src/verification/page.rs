//! The verification page a phone camera opens (`/V/<payload>`): Chinese, one glance, readable
//! at 375 px, no external assets. Built by hand rather than with a template engine: it is one
//! small page, and every value passes through [`escape`] on its way in.

use std::fmt::Write;

use super::verdict::{LicenceSummary, Verdict};

/// HTML-escape text for element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font-family:-apple-system,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;\
background:#f4f5f7;color:#1f2329;font-size:17px;line-height:1.5}\
main{max-width:560px;margin:0 auto;padding:16px}\
h1{font-size:18px;font-weight:600;margin:4px 0 12px;color:#51565d}\
.verdict{border-radius:12px;padding:20px 16px;text-align:center;color:#fff}\
.verdict.valid{background:#1a7f37}\
.verdict.invalid{background:#c62828}\
.verdict .big{font-size:64px;font-weight:700;line-height:1.1;letter-spacing:8px}\
.verdict .why{margin:8px 0 0;font-size:18px}\
.card{background:#fff;border-radius:12px;padding:12px 16px;margin-top:16px}\
.card h2{font-size:16px;margin:0 0 8px;color:#51565d}\
dl{margin:0}\
dt{color:#6b7079;font-size:14px;margin-top:10px}\
dd{margin:0;font-size:18px;word-break:break-all}\
.note{color:#6b7079;font-size:14px;margin:16px 0 0}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\">\
<title>{}</title><style>{STYLE}</style></head>\
<body><main><h1>电子证照核验</h1>{body}</main></body></html>\n",
        escape(title)
    )
}

fn row(out: &mut String, label: &str, value: &str) {
    let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(label), escape(value));
}

fn summary_card(out: &mut String, l: &LicenceSummary, status_label: Option<&str>) {
    out.push_str("<section class=\"card\"><h2>纸质证照上应显示的内容</h2><dl>");
    row(
        out,
        "证照名称",
        l.type_name.as_deref().unwrap_or(&l.type_code),
    );
    row(out, "持证主体", &l.holder.name);
    row(out, "证件号码", &l.holder.code);
    row(out, "证照编号", &l.licence_no);
    row(
        out,
        "发证机关",
        l.issuing_authority.as_deref().unwrap_or(&l.issuer_code),
    );
    let to = l.valid_to.map_or_else(
        || "长期".to_owned(),
        |d| d.format("%Y年%m月%d日").to_string(),
    );
    row(
        out,
        "有效期限",
        &format!("{} 至 {}", l.valid_from.format("%Y年%m月%d日"), to),
    );
    row(out, "版本", &format!("第 {} 版", l.version));
    if let Some(s) = status_label {
        row(out, "当前状态", s);
    }
    row(out, "证照标识", &l.identifier);
    out.push_str("</dl></section>");
}

/// The page for a verdict.
pub fn render(v: &Verdict) -> String {
    let mut body = String::with_capacity(4096);
    if v.valid {
        body.push_str(
            "<section class=\"verdict valid\" data-verdict=\"valid\" role=\"status\">\
<div class=\"big\">有效</div><p class=\"why\">签章真实，证照当前有效</p></section>",
        );
    } else {
        let why = v.reason.map_or("无法核验", |r| r.label_zh());
        let _ = write!(
            body,
            "<section class=\"verdict invalid\" data-verdict=\"invalid\" role=\"status\">\
<div class=\"big\">无效</div><p class=\"why\">{}</p></section>",
            escape(why)
        );
    }
    if let Some(l) = &v.licence {
        summary_card(&mut body, l, v.status.map(|s| s.label_zh()));
        body.push_str(
            "<p class=\"note\">请逐项核对纸质证照与上列内容；任何一项不一致，即不是这张证照。</p>",
        );
    } else if v.authentic {
        body.push_str("<p class=\"note\">请联系发证机关核实。</p>");
    } else {
        body.push_str(
            "<p class=\"note\">此二维码不能证明证照的真实性。请向发证机关核实，切勿仅凭纸面内容办理业务。</p>",
        );
    }
    // Verifiers read the time in Beijing time (UTC+8), the zone the licences are issued in.
    let checked = chrono::FixedOffset::east_opt(8 * 3600)
        .map(|tz| {
            v.checked_at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M:%S 北京时间")
        })
        .map_or_else(|| v.checked_at.to_rfc3339(), |t| t.to_string());
    if let Some(log) = &v.log {
        let text = if log.logged {
            format!(
                "透明日志：已记录（第 {} 条），{} 个合作县已见证",
                log.leaf_index.unwrap_or_default(),
                log.witnesses
            )
        } else if log.recorded {
            "透明日志：已记录，等待发布".to_owned()
        } else {
            "透明日志：未记录".to_owned()
        };
        let _ = write!(
            body,
            "<p class=\"note\" data-log=\"{}\">{}</p>",
            log.logged,
            escape(&text)
        );
    }
    let _ = write!(body, "<p class=\"note\">核验时间：{}", escape(&checked));
    if let Some(kid) = &v.signer_kid {
        let _ = write!(body, "　签发密钥：{}", escape(kid));
    }
    body.push_str("</p>");
    page(
        if v.valid {
            "有效 · 电子证照核验"
        } else {
            "无效 · 电子证照核验"
        },
        &body,
    )
}

/// The database cannot be reached: no verdict can be given now (served with 503).
pub fn render_unavailable() -> String {
    page(
        "暂时无法核验 · 电子证照核验",
        "<section class=\"verdict invalid\" role=\"status\">\
<div class=\"big\">请稍后再试</div><p class=\"why\">核验服务暂时无法查询登记系统</p></section>",
    )
}

/// Too many checks from one address (served with 429).
pub fn render_too_many(retry_after_s: u64) -> String {
    page(
        "请求过于频繁 · 电子证照核验",
        &format!(
            "<section class=\"verdict invalid\" role=\"status\">\
<div class=\"big\">请稍候</div><p class=\"why\">核验请求过于频繁，请 {retry_after_s} 秒后再试</p></section>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert(\"x\")</script>&'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(escape("临沂市"), "临沂市");
    }
}
