extension ConsolePage {
    static let style = #"""
:root {
  --bg: #f4f5f8; --card: #fff; --ink: #1d2230; --muted: #6b7285; --line: #dde0e8;
  --accent: #ff6a2b; --accent-ink: #fff; --accent-soft: #fff0e8; --bad: #c62828; --bad-soft: #fdecea;
  font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "PingFang SC", "Microsoft YaHei", sans-serif;
  color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; padding: 16px 20px 28px; }
header { display: flex; align-items: center; justify-content: space-between; gap: 12px; flex-wrap: wrap; max-width: 1320px; margin: 0 auto 14px; }
h1 { margin: 0; font-size: 1.55rem; letter-spacing: .02em; }
h2 { margin: 0 0 10px; font-size: 1.1rem; }
.sub { margin: 2px 0 0; color: var(--muted); font-size: .9rem; }
.badge { padding: 6px 12px; border-radius: 999px; font-size: .85rem; border: 1px solid var(--line); background: var(--card); }
.badge.loading { color: #8a5a00; background: #fff7e0; border-color: #f1d58a; }
.badge.waiting { color: #8a5a00; background: #fff7e0; border-color: #f1d58a; }
.badge.ready { color: #1b6e35; background: #e7f6ec; border-color: #9fd8b2; }
.badge.failed { color: var(--bad); background: var(--bad-soft); border-color: #f2b8b5; }
main { display: grid; grid-template-columns: minmax(320px, 460px) 1fr; gap: 16px; max-width: 1320px; margin: 0 auto; }
@media (max-width: 860px) { main { grid-template-columns: 1fr; } }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 16px; box-shadow: 0 1px 2px rgba(20,25,40,.05); }
#history-card { max-width: 1320px; margin: 16px auto 0; }
label, .label { display: block; font-weight: 600; font-size: .9rem; margin: 12px 0 5px; }
textarea, input[type=text], input[type=number] {
  width: 100%; font: inherit; font-size: .95rem; padding: 8px 10px; border: 1px solid var(--line); border-radius: 8px; background: #fbfbfd; color: var(--ink);
}
textarea { resize: vertical; }
textarea:focus, input:focus { outline: 2px solid var(--accent); outline-offset: -1px; background: #fff; }
input[type=range] { width: 100%; accent-color: var(--accent); margin-top: 8px; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.inline { display: flex; gap: 6px; }
.hint { color: var(--muted); font-size: .8rem; margin-top: 4px; }
.head-row { display: flex; align-items: baseline; justify-content: space-between; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { border: 1px solid var(--line); background: #fbfbfd; border-radius: 999px; padding: 4px 11px; font-size: .82rem; cursor: pointer; color: var(--ink); }
.chip:hover { border-color: var(--accent); }
.chip.active { background: var(--accent-soft); border-color: var(--accent); color: #b8410b; }
button { font: inherit; cursor: pointer; border-radius: 8px; border: 1px solid var(--line); background: #fbfbfd; color: var(--ink); padding: 8px 14px; }
button:disabled { opacity: .45; cursor: default; }
button.icon { padding: 4px 9px; font-size: 1.1rem; line-height: 1; display: inline-flex; align-items: center; }
button.link { border: none; background: none; color: var(--accent); padding: 0; font-size: .85rem; }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-ink); font-weight: 700; padding: 11px 18px; flex: 1; }
button.primary:hover:not(:disabled) { filter: brightness(1.05); }
.buttons { display: flex; gap: 10px; margin-top: 16px; }
.buttons.small { margin-top: 6px; }
.error { margin-top: 12px; padding: 10px 12px; border-radius: 8px; background: var(--bad-soft); color: var(--bad); border: 1px solid #f2b8b5; font-size: .9rem; white-space: pre-wrap; }
.status { font-weight: 600; margin-bottom: 8px; }
.progress { height: 10px; border-radius: 999px; background: #eceef3; overflow: hidden; }
#progress-bar { height: 100%; width: 0; background: linear-gradient(90deg, #ff8a4c, var(--accent)); transition: width .25s; }
.frame { margin-top: 12px; min-height: 320px; border: 1px dashed var(--line); border-radius: 10px; display: flex; align-items: center; justify-content: center; background: #fafbfc; overflow: hidden; }
#result-image { max-width: 100%; max-height: 72vh; min-width: 256px; image-rendering: auto; border-radius: 6px; }
#result-image.preview { filter: saturate(.9); opacity: .92; }
#placeholder { color: var(--muted); }
.meta { color: var(--muted); font-size: .85rem; margin: 10px 0; word-break: break-word; }
a.button { display: inline-block; text-decoration: none; padding: 8px 14px; border-radius: 8px; background: var(--accent-soft); color: #b8410b; border: 1px solid var(--accent); font-weight: 600; }
.worker { font-size: .85rem; padding: 4px 0; border-bottom: 1px solid var(--line); word-break: break-word; }
.worker.busy { color: #1b6e35; } .worker.failed, .worker.unresponsive { color: var(--bad); }
.queued-job { display: flex; gap: 8px; align-items: center; font-size: .85rem; padding: 4px 0; border-bottom: 1px solid var(--line); }
.queued-job span { flex: 1; word-break: break-word; } .queued-job.mine span { font-weight: 600; }
.queued-job button { padding: 2px 8px; font-size: .8rem; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
.item { border: 1px solid var(--line); border-radius: 10px; overflow: hidden; background: #fbfbfd; display: flex; flex-direction: column; }
.item img { width: 100%; aspect-ratio: 1; object-fit: cover; cursor: pointer; background: #eceef3; }
.item .cap { padding: 6px 8px 0; font-size: .8rem; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
.item .sub2 { padding: 2px 8px; color: var(--muted); font-size: .75rem; }
.item button { margin: 6px 8px 8px; padding: 5px 8px; font-size: .8rem; }
.lora-row { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; margin-top: 8px; background: #fbfbfd; }
.lora-row.missing { border-color: #f2b8b5; background: var(--bad-soft); }
.lora-head { display: flex; align-items: center; justify-content: space-between; gap: 8px; font-size: .88rem; font-weight: 600; }
.lora-head .hint { font-weight: 400; margin: 0; }
.lora-weight { display: grid; grid-template-columns: 1fr 84px; gap: 10px; align-items: center; }
.lora-weight input[type=range] { margin-top: 0; }
.lora-weight input[type=number] { padding: 4px 6px; }
.lora-triggers { margin-top: 6px; align-items: center; }
.lora-triggers .hint { margin: 0 2px 0 0; }
footer { max-width: 1320px; margin: 14px auto 0; color: var(--muted); font-size: .8rem; }
footer a { color: var(--muted); }
"""#
}
