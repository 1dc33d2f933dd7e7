//! Kiosk mode (`--kiosk`): instead of claiming the hall's queue, wait for a holder at the
//! touch screen (`agent::kiosk`), release their held job with the codes they typed, and take
//! it through the same steps as a claimed job (seal check, download, print from the kiosk's
//! own tray, report). Owed reports, the trust list and restart recovery work as in the
//! normal loop.

use super::*;
use crate::agent::api::ReleaseError;
use crate::agent::kiosk::{KioskScreen, ReleaseCall, ReleaseReply, Stage};
use tokio::sync::mpsc;

/// How often the loop looks at owed reports while nobody is at the screen.
const IDLE_TICK: Duration = Duration::from_secs(2);

/// What the holder reads when a release is refused.
fn refusal_text(e: &ReleaseError) -> &'static str {
    match e {
        ReleaseError::NoMatch => "取件码或证件号码不正确，请核对后重新输入",
        ReleaseError::Locked => "输入错误次数过多，该证照已锁定，请到人工窗口办理",
        ReleaseError::LicenceNotValid => "该证照目前不能领取，请到人工窗口咨询",
        ReleaseError::Unreachable(_) => "暂时无法连接服务器，请稍后再试或到人工窗口办理",
        ReleaseError::Refused(_) => "本机暂时不能办理，请到人工窗口办理",
    }
}

impl Agent {
    pub(super) async fn kiosk_loop(
        &mut self,
        mut calls: mpsc::Receiver<ReleaseCall>,
        screen: Arc<KioskScreen>,
    ) -> Result<(), AgentError> {
        let mut backoff = Backoff::default();
        loop {
            self.flush_reports().await?;
            if self.stop.requested() {
                return Ok(());
            }
            let due_trust = self
                .trust_fetched_at
                .is_none_or(|t| t.elapsed() >= TRUST_REFRESH);
            let trusted = !due_trust || self.refresh_trust().await;
            // A job left between release and printing by a restart is finished first (its
            // holder may still be waiting; if not, the paper stays in the kiosk's tray
            // outlet and the report says printed).
            let unfinished = self.journal.unfinished()?;
            if let Some(job) = unfinished
                .into_iter()
                .find(|j| matches!(j.step, Step::Claimed | Step::Downloaded))
            {
                self.process(job).await?;
                continue;
            }
            let call = tokio::select! {
                c = calls.recv() => c,
                _ = self.stop.sleep(if trusted { IDLE_TICK } else { backoff.next_delay() }) => None,
            };
            if let Some(call) = call {
                if trusted {
                    backoff.reset();
                    self.serve_release(call, &screen).await?;
                } else {
                    // Without a trust list no seal can be checked, so nothing may be printed.
                    let _ = call.reply.send(ReleaseReply::Refused(
                        "本机暂停服务，请到人工窗口办理".into(),
                    ));
                }
            }
        }
    }

    async fn serve_release(
        &mut self,
        call: ReleaseCall,
        screen: &KioskScreen,
    ) -> Result<(), AgentError> {
        let refuse = |call: ReleaseCall, text: &str| {
            let _ = call.reply.send(ReleaseReply::Refused(text.to_string()));
        };
        if self.journal.blank_count()? == 0 {
            tracing::warn!("the tray is empty: load stock with `crosscert agent stock load`");
            refuse(call, "本机证纸已用完，请到人工窗口领取");
            return Ok(());
        }
        let job = match self
            .client
            .release(&call.pickup_code, &call.recipient_code)
            .await
        {
            Ok(job) => job,
            Err(e) => {
                tracing::info!(error = %e, "release refused");
                refuse(call, refusal_text(&e));
                return Ok(());
            }
        };
        match self.journal.record_claim(&job) {
            Ok(()) => {
                tracing::info!(job = %job.id, step = "claimed", type_code = %job.type_code, pages = job.copies.len(), lease_until = %job.lease_expires_at, "job released at the kiosk");
            }
            Err(e @ JournalError::AlreadyInHand(..)) => {
                tracing::error!(job = %job.id, error = %e, "server released a job this kiosk already holds");
                refuse(call, "本机暂时不能办理，请到人工窗口办理");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        screen.set(Stage::Printing, "正在打印，请稍候…");
        let _ = call.reply.send(ReleaseReply::Printing);
        self.halt_if(&job.id, "claimed").await;
        if let Some(rec) = self.journal.job(&job.id)? {
            self.process(rec).await?;
        }
        let printed = self
            .journal
            .job(&job.id)?
            .is_some_and(|j| j.outcome.as_deref() == Some("printed"));
        if printed {
            screen.set(Stage::Done, "请取走证照");
        } else {
            screen.set(Stage::Failed, "打印未成功，请到人工窗口办理");
        }
        Ok(())
    }
}
