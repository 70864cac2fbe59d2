// /protect/status: a case's state and its withdrawal, with the case number
// and PIN (sent in a header, never in the address).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($('msgs').textContent);

  async function request(method) {
    $('error').hidden = true;
    const number = $('number').value.trim();
    const resp = await fetch('/v1/protect/cases/' + encodeURIComponent(number), {
      method, credentials: 'omit', cache: 'no-store', headers: { 'X-Protect-PIN': $('pin').value.trim() } });
    const out = await resp.json();
    if (!resp.ok) {
      $('state').hidden = true;
      $('error').textContent = resp.status === 429 ? T.limited : resp.status === 404 ? T.notfound : T.error + ' ' + (out.error ? out.error.message : resp.status);
      $('error').hidden = false;
      return;
    }
    $('state').hidden = false;
    $('state').dataset.state = out.state;
    $('state-text').textContent = out.state === 'withdrawn' ? T.state_withdrawn : T.state_active;
    $('state-submitted').textContent = out.submitted;
    $('state-withdrawn').textContent = out.withdrawn || '—';
    $('withdraw-box').hidden = out.state === 'withdrawn';
  }

  $('status-form').addEventListener('submit', (e) => { e.preventDefault(); request('GET'); });
  $('sure').addEventListener('change', () => { $('withdraw').disabled = !$('sure').checked; });
  $('withdraw').addEventListener('click', () => request('DELETE'));
})();
