/// The page's side of `--auth-token-file`, run before the console's own script: every `fetch` carries
/// the token kept in `localStorage` as `Authorization: Bearer`; the first 401 asks for it once (one
/// prompt however many requests failed together), keeps it and repeats the request. The token is also
/// set as the `majicflux_token` cookie (SameSite=Strict, this server's path only) for what cannot
/// send headers: `EventSource` streams and `<img>` pictures, which the server accepts it for on GET only.
enum AuthPageScript {
    static let source = #"""
(function () {
  const key = 'majicflux.token';
  const plainFetch = window.fetch.bind(window);
  function remember(token) {
    try { localStorage.setItem(key, token); } catch (e) {}
    document.cookie = 'majicflux_token=' + encodeURIComponent(token) + '; path=/; SameSite=Strict';
  }
  function stored() { try { return localStorage.getItem(key); } catch (e) { return null; } }
  const first = stored();
  if (first) remember(first);
  let asking = null;
  function ask() {
    if (!asking) {
      asking = new Promise(function (resolve) {
        const t = window.prompt('This console needs an access token (ask whoever runs it):');
        const token = t ? t.trim() : '';
        if (token) remember(token);
        resolve(token);
        setTimeout(function () { asking = null; }, 0);
      });
    }
    return asking;
  }
  window.fetch = async function (input, init) {
    const options = Object.assign({}, init || {});
    const headers = new Headers(options.headers || {});
    const token = stored();
    if (token) headers.set('Authorization', 'Bearer ' + token);
    options.headers = headers;
    let response = await plainFetch(input, options);
    if (response.status === 401 && !(options.body instanceof ReadableStream)) {
      // A token kept since this request left (another request asked) is tried before asking again.
      const now = stored();
      const again = now && now !== token ? now : await ask();
      if (again) {
        headers.set('Authorization', 'Bearer ' + again);
        response = await plainFetch(input, options);
      }
    }
    return response;
  };
})();
"""#
}
