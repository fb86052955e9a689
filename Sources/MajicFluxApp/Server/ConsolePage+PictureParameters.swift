import Foundation

extension ConsolePage {
    /// Beside the prompt's label: load the parameters a picture carries into the form (A1111's "PNG
    /// Info" then "send to txt2img"): our PNGs, and PNG/JPEG/WebP pictures of A1111 or Forge.
    static let pictureParametersHTML = #"""
      <div class="head-row">
        <label for="prompt">提示词 (Prompt)</label>
        <button type="button" id="params-button" class="link" title="PNG / JPEG / WebP">从图像读取参数 (Load from a picture)</button>
        <input type="file" id="params-file" accept="image/png,image/jpeg,image/webp" hidden>
      </div>
"""#

    /// Runs inside the page script (`$`, `reuse`, `showError`, `hideError` are in scope): the chosen
    /// file goes to `POST /api/picture-parameters`; its parameters fill the form as a history entry's do.
    static let pictureParametersScript = #"""
// ---- parameters from a picture ----------------------------------------------------------------
$('params-button').addEventListener('click', () => $('params-file').click());
$('params-file').addEventListener('change', async () => {
  const file = $('params-file').files[0];
  $('params-file').value = '';
  if (!file) return;
  hideError();
  try {
    const image = await new Promise((resolve, reject) => {
      const r = new FileReader(); r.onload = () => resolve(r.result); r.onerror = () => reject(r.error); r.readAsDataURL(file);
    });
    const r = await fetch('/api/picture-parameters', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                       body: JSON.stringify({ image }) });
    const j = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (!r.ok) { showError('无法读取参数 (no parameters): ' + (j.error || `HTTP ${r.status}`)); return; }
    reuse(j.parameters);
  } catch (e) {
    showError('无法读取图像 (cannot read the picture): ' + e);
  }
});
"""#
}
