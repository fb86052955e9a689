import Foundation
import Hummingbird
import Models

/// The console page: one self-contained HTML document (inline CSS and vanilla JS, no external
/// resources, so it works offline), built into the binary.
enum ConsolePage {
    /// The form starts from FLUX.1-dev's settings; the script replaces them with the served model's
    /// (`/api/status` `defaults`) as soon as it has them.
    static let html: String = document
        .replacingOccurrences(of: "/*CONDITIONING_FIELDS*/", with: conditioningHTML)
        .replacingOccurrences(of: "/*ADVANCED_FIELDS*/", with: advancedHTML)
        .replacingOccurrences(of: "/*STYLE*/", with: style + conditioningStyle + advancedStyle + promptLengthStyle)
        .replacingOccurrences(of: "/*SCRIPT*/", with: AuthPageScript.source + script.replacingOccurrences(of: "/*CONDITIONING*/", with: conditioningScript + advancedScript + hiresScript + promptLengthScript + pictureParametersScript))
        .replacingOccurrences(of: "/*PICTURE_PARAMETERS*/", with: pictureParametersHTML)
        .replacingOccurrences(of: "/*PROMPT_TOKENS*/", with: promptLengthHTML("prompt"))
        .replacingOccurrences(of: "/*NEGATIVE_TOKENS*/", with: promptLengthHTML("negative"))
        .replacingOccurrences(of: "/*STEPS*/", with: "\(ModelPreset.fluxDev.steps)")
        .replacingOccurrences(of: "/*SIZE*/", with: "\(ModelPreset.fluxDev.imageSize)")
        .replacingOccurrences(of: "/*GUIDANCE*/", with: "\(ModelPreset.fluxDev.guidance)")

    static func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // Nothing outside this server may load: the page must work offline and stay that way.
        headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; connect-src 'self'"
        headers[HTTPFields.Element.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static let document = #"""
<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flux 离线图像生成控制台</title>
<link rel="icon" href="data:,">
<style>/*STYLE*/</style>
</head>
<body>
<header>
  <div>
    <h1>Flux 离线图像生成控制台</h1>
    <p class="sub">MajicFlux · offline Flux image generation console</p>
  </div>
  <div id="model-status" class="badge loading">正在加载模型… (loading model…)</div>
</header>
<main>
  <section class="card" id="form-card">
    <form id="gen-form" novalidate>
/*PICTURE_PARAMETERS*/
      <textarea id="prompt" rows="4" placeholder="描述你想要的画面… (describe the picture; Ctrl+Enter to generate)"></textarea>
      /*PROMPT_TOKENS*/

      <div class="head-row">
        <span class="label">风格预设 (Style presets)</span>
        <button type="button" id="edit-styles" class="link">编辑 (Edit)</button>
      </div>
      <div id="style-chips" class="chips"></div>
      <div id="style-editor" hidden>
        <textarea id="style-text" rows="6" spellcheck="false"></textarea>
        <div class="hint">每行一个：名称 | 风格短语 (one per line: name | phrase)</div>
        <div class="buttons small">
          <button type="button" id="save-styles">保存 (Save)</button>
          <button type="button" id="reset-styles">恢复默认 (Reset)</button>
        </div>
      </div>

      <div class="head-row">
        <span class="label">LoRA 风格模型 (LoRAs)</span>
        <button type="button" id="refresh-loras" class="link">刷新 (Refresh)</button>
      </div>
      <div id="lora-chips" class="chips"></div>
      <div id="lora-none" class="hint" hidden>没有可用的 LoRA (no LoRAs: put .safetensors files into the LoRA folder, majicflux serve --lora-dir DIR)</div>
      <div id="lora-list"></div>

      <label for="negative">反向提示词 (Negative prompt)</label>
      <textarea id="negative" rows="2" placeholder="不想出现的内容 (what to avoid)"></textarea>
      /*NEGATIVE_TOKENS*/
      <div class="hint">真实 CFG &gt; 1 时生效 (used when True CFG &gt; 1)</div>

      <div class="row">
        <div class="field">
          <label for="seed">随机种子 (Seed)</label>
          <div class="inline">
            <input id="seed" type="text" inputmode="numeric" value="-1" autocomplete="off">
            <button type="button" id="dice" class="icon" title="随机种子 (random: -1)" aria-label="随机种子 (random seed)"><svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true"><rect x="3" y="3" width="18" height="18" rx="4" fill="none" stroke="currentColor" stroke-width="2"/><circle cx="8" cy="8" r="1.6" fill="currentColor"/><circle cx="16" cy="8" r="1.6" fill="currentColor"/><circle cx="12" cy="12" r="1.6" fill="currentColor"/><circle cx="8" cy="16" r="1.6" fill="currentColor"/><circle cx="16" cy="16" r="1.6" fill="currentColor"/></svg></button>
            <button type="button" id="reuse-seed" class="icon" title="使用上次的种子 (use the last seed)" aria-label="使用上次的种子 (use the last seed)">♻</button>
          </div>
          <div class="hint">-1 = 随机 (random)</div>
        </div>
        <div class="field">
          <label for="batch-count">批量 (Batch count)</label>
          <input id="batch-count" type="number" min="1" max="4" step="1" value="1">
          <div class="hint">种子 seed, seed+1, ... 一次生成 (one pass)</div>
        </div>
        <div class="field">
          <label for="steps">步数 (Steps): <output id="steps-value">/*STEPS*/</output></label>
          <input id="steps" type="range" min="1" max="50" value="/*STEPS*/">
        </div>
      </div>

      <span class="label">尺寸 (Size)</span>
      <div id="aspects" class="chips"></div>
      <div class="row">
        <div class="field"><label for="width">宽度 (Width)</label><input id="width" type="number" min="16" step="16" value="/*SIZE*/"></div>
        <div class="field"><label for="height">高度 (Height)</label><input id="height" type="number" min="16" step="16" value="/*SIZE*/"></div>
      </div>
      <div class="row">
        <div class="field"><label for="guidance">引导系数 (Guidance)</label><input id="guidance" type="number" min="0" max="100" step="0.1" value="/*GUIDANCE*/"></div>
        <div class="field"><label for="cfg">真实 CFG (True CFG)</label><input id="cfg" type="number" min="1" max="100" step="0.1" value="1"></div>
      </div>

/*CONDITIONING_FIELDS*/
/*ADVANCED_FIELDS*/
      <div class="buttons">
        <button type="submit" id="generate" class="primary">开始生成图像 (Generate)</button>
        <button type="button" id="cancel" disabled>取消 (Cancel)</button>
      </div>
      <div id="error" class="error" role="alert" hidden></div>
    </form>
  </section>

  <section class="card" id="result-card">
    <h2>生成结果 (Result)</h2>
    <div id="job-status" class="status" role="status" aria-live="polite">空闲 (idle)</div>
    <div class="progress" role="presentation"><div id="progress-bar"></div></div>
    <div id="progress-text" class="hint" aria-live="off">&nbsp;</div>
    <div id="result-frame" class="frame">
      <img id="result-image" alt="生成结果 (Result)" hidden>
      <div id="placeholder">图像将显示在这里 (the picture appears here)</div>
    </div>
    <div id="result-meta" class="meta"></div>
    <a id="download" class="button" hidden>下载 PNG (Download)</a>
    <button type="button" id="use-result" hidden>用作输入 (Use as input)</button>
  </section>
</main>

<section class="card" id="workers-card">
  <h2>工作进程 (Workers)</h2>
  <div id="workers-summary" class="hint"></div>
  <div id="workers"></div>
  <div id="queue" aria-label="队列 (queue)"></div>
</section>
<section class="card" id="history-card">
  <h2>历史记录 (History)</h2>
  <div id="history" class="gallery"></div>
  <div id="history-empty" class="hint">还没有图像 (no pictures yet)</div>
</section>
<footer>MajicFlux · JSON API: <a href="/api/status">/api/status</a>, <a href="/api/history">/api/history</a>, <a href="/api/loras">/api/loras</a> (docs/API.md)</footer>
<script>/*SCRIPT*/</script>
</body>
</html>
"""#
}
