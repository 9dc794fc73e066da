/* app.js - the review page's logic: show one candidate at a time, take
 * answers from keys or buttons, keep every change in localStorage, and
 * download the ratings as JSON for `aedcurate review import`.
 * Plain browser JavaScript, no libraries, no network. Everything that comes
 * from the data (names, descriptions, ids, comments, labels) is written
 * with textContent, never parsed as HTML. */
(function () {
  'use strict';

  var RATINGS_FORMAT = 'aedcurate-ratings';
  var RATINGS_VERSION = 1;
  var ANSWERS = {
    present: 'Present',
    not_present: 'Not present',
    unsure: 'Unsure',
    not_acoustic: 'Not acoustic'
  };
  var KEYS = { p: 'present', n: 'not_present', u: 'unsure', a: 'not_acoustic' };
  var MAX_SUGGEST = 8;
  var ANNOTATOR_KEY = 'aedcurate-review/annotator';

  var data = window.AED_DATA;
  var $ = function (id) { return document.getElementById(id); };

  /* --- state, saved after every change --------------------------------- */

  var state = null;   /* { pos, ratings: { id: {answer, labels, comment, time} } } */
  var storeKey = null;
  var storageOk = true;

  function load(annotator) {
    storeKey = 'aedcurate-review/v1/' + data.export_id + '/' + annotator;
    var s = null;
    try {
      s = JSON.parse(window.localStorage.getItem(storeKey) || 'null');
    } catch (e) {
      s = null;
    }
    if (!s || typeof s !== 'object' || typeof s.ratings !== 'object' || s.ratings === null)
      s = { pos: 0, ratings: {} };
    if (typeof s.pos !== 'number' || s.pos < 0 || s.pos >= data.candidates.length)
      s.pos = 0;
    state = s;
  }

  function save() {
    try {
      window.localStorage.setItem(storeKey, JSON.stringify(state));
      storageOk = true;
      $('saved').textContent = 'saved ' + new Date().toLocaleTimeString();
    } catch (e) {
      storageOk = false;
      $('saved').textContent = 'NOT saved (' + e.name + '): export your ratings now';
    }
  }

  function entry(id) {
    var r = state.ratings[id];
    if (!r || typeof r !== 'object') {
      r = { answer: null, labels: [], comment: '', time: null };
      state.ratings[id] = r;
    }
    if (!Array.isArray(r.labels)) r.labels = [];
    if (typeof r.comment !== 'string') r.comment = '';
    return r;
  }

  function touch(r) {
    r.time = new Date().toISOString();
    save();
  }

  function ratedCount() {
    var n = 0;
    data.candidates.forEach(function (c) {
      var r = state.ratings[c.id];
      if (r && ANSWERS[r.answer]) n++;
    });
    return n;
  }

  /* --- the ontology, for names and the autocomplete -------------------- */

  var nameOf = {};
  (data && data.ontology || []).forEach(function (o) { nameOf[o[0]] = o[1]; });

  /* --- rendering -------------------------------------------------------- */

  function cur() { return data.candidates[state.pos]; }

  function showProgress() {
    var n = ratedCount(), total = data.candidates.length;
    $('progress-text').textContent = n + ' / ' + total + ' rated';
    $('progress').max = total;
    $('progress').value = n;
    $('export').classList.toggle('done', n === total);
    $('export').title = n === total ? 'all rated: download the ratings file and send it back' : '';
  }

  function showChips(r) {
    var ul = $('label-chips');
    ul.replaceChildren();
    r.labels.forEach(function (mid) {
      var li = document.createElement('li');
      var name = document.createElement('span');
      name.textContent = nameOf[mid] || mid;
      name.title = mid;
      var x = document.createElement('button');
      x.type = 'button';
      x.className = 'remove';
      x.textContent = '\u00d7';
      x.title = 'remove';
      x.addEventListener('click', function () {
        r.labels = r.labels.filter(function (m) { return m !== mid; });
        touch(r);
        showChips(r);
      });
      li.appendChild(name);
      li.appendChild(x);
      ul.appendChild(li);
    });
  }

  function showAnswer(r) {
    $('cand-answer').textContent = r.answer ? ANSWERS[r.answer] : 'none';
    document.querySelectorAll('.answers button').forEach(function (b) {
      b.classList.toggle('chosen', b.getAttribute('data-answer') === r.answer);
      b.setAttribute('aria-pressed', b.getAttribute('data-answer') === r.answer ? 'true' : 'false');
    });
  }

  function show() {
    var c = cur(), r = entry(c.id), audio = $('audio');
    audio.pause();
    audio.src = c.audio;
    audio.load();
    $('spec').src = c.image;
    $('pos').textContent = String(state.pos + 1);
    $('total').textContent = String(data.candidates.length);
    $('cand-id').textContent = c.id;
    $('cand-rank').textContent = String(c.rank);
    $('cand-score').textContent = Number(c.score).toFixed(3);
    $('t-dur').textContent = Number(c.duration_s).toFixed(1);
    $('t-best').textContent = Number(c.best_start_s).toFixed(2);
    var dur = c.duration_s > 0 ? c.duration_s : 1;
    $('best').style.left = (100 * c.best_start_s / dur) + '%';
    $('best').style.width = (100 * c.best_dur_s / dur) + '%';
    ruler(dur);
    $('comment').value = r.comment;
    $('label-input').value = '';
    hideSuggest();
    showChips(r);
    showAnswer(r);
    showProgress();
    playhead();
    $('prev').disabled = state.pos === 0;
    $('next').disabled = state.pos === data.candidates.length - 1;
  }

  /* Second marks under the spectrogram. */
  function ruler(dur) {
    var el = $('ruler'), step = dur > 12 ? 2 : 1;
    el.replaceChildren();
    for (var t = 0; t <= dur + 1e-9; t += step) {
      var tick = document.createElement('span');
      tick.style.left = (100 * t / dur) + '%';
      if (t > 0 && t / dur > 0.95) tick.className = 'end';
      tick.textContent = t + ' s';
      el.appendChild(tick);
    }
  }

  function playhead() {
    var c = cur(), audio = $('audio'), t = audio.currentTime || 0;
    var dur = c.duration_s > 0 ? c.duration_s : 1;
    $('playhead').style.left = Math.min(100, 100 * t / dur) + '%';
    $('t-now').textContent = t.toFixed(1);
    $('play').textContent = audio.paused ? 'Play' : 'Pause';
  }

  function tick() {
    playhead();
    if (!$('audio').paused) window.requestAnimationFrame(tick);
  }

  /* --- actions ---------------------------------------------------------- */

  function go(delta) {
    var p = state.pos + delta;
    if (p < 0 || p >= data.candidates.length) return;
    state.pos = p;
    save();
    show();
  }

  function answer(a) {
    var r = entry(cur().id);
    r.answer = a;
    r.comment = $('comment').value;
    touch(r);
    showAnswer(r);
    showProgress();
    if ($('advance').checked && state.pos < data.candidates.length - 1) go(1);
  }

  function togglePlay() {
    var audio = $('audio');
    if (audio.paused) {
      var p = audio.play();
      if (p && p.catch) p.catch(function (e) { $('saved').textContent = 'cannot play: ' + e.message; });
    } else {
      audio.pause();
    }
  }

  /* --- missing labels: autocomplete over the ontology ----------------- */

  var suggestions = [], active = -1;

  function hideSuggest() {
    suggestions = [];
    active = -1;
    $('label-suggest').hidden = true;
    $('label-suggest').replaceChildren();
    $('label-input').setAttribute('aria-expanded', 'false');
  }

  /* The class judged is never offered: the answer says whether it is there,
   * and with Not present such a label would contradict it (import refuses
   * that entry). */
  function matches(text) {
    var q = text.trim().toLowerCase();
    if (!q) return [];
    var starts = [], contains = [];
    (data.ontology || []).forEach(function (o) {
      if (o[0] === data['class'].mid) return;
      var n = String(o[1]).toLowerCase(), m = String(o[0]).toLowerCase();
      if (n.indexOf(q) === 0 || m === q) starts.push(o);
      else if (n.indexOf(q) > 0) contains.push(o);
    });
    return starts.concat(contains).slice(0, MAX_SUGGEST);
  }

  function renderSuggest() {
    var ul = $('label-suggest');
    ul.replaceChildren();
    suggestions.forEach(function (o, i) {
      var li = document.createElement('li');
      li.setAttribute('role', 'option');
      li.className = i === active ? 'active' : '';
      li.setAttribute('aria-selected', i === active ? 'true' : 'false');
      var name = document.createElement('span');
      name.textContent = o[1];
      var mid = document.createElement('span');
      mid.className = 'mid';
      mid.textContent = o[0];
      li.appendChild(name);
      li.appendChild(mid);
      /* mousedown, not click: it comes before the input loses focus */
      li.addEventListener('mousedown', function (ev) {
        ev.preventDefault();
        addLabel(o[0]);
      });
      ul.appendChild(li);
    });
    ul.hidden = suggestions.length === 0;
    $('label-input').setAttribute('aria-expanded', suggestions.length ? 'true' : 'false');
  }

  function addLabel(mid) {
    var r = entry(cur().id);
    if (r.labels.indexOf(mid) < 0) {
      r.labels.push(mid);
      touch(r);
    }
    $('label-input').value = '';
    hideSuggest();
    showChips(r);
  }

  $('label-input').addEventListener('input', function () {
    suggestions = matches(this.value);
    active = suggestions.length ? 0 : -1;
    renderSuggest();
  });
  $('label-input').addEventListener('keydown', function (ev) {
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      if (!suggestions.length) return;
      ev.preventDefault();
      active = (active + (ev.key === 'ArrowDown' ? 1 : suggestions.length - 1)) % suggestions.length;
      renderSuggest();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      if (active >= 0 && suggestions[active]) addLabel(suggestions[active][0]);
    } else if (ev.key === 'Escape') {
      hideSuggest();
      this.blur();
    }
  });
  $('label-input').addEventListener('blur', hideSuggest);

  $('comment').addEventListener('input', function () {
    var r = entry(cur().id);
    r.comment = this.value;
    touch(r);
  });
  $('comment').addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') this.blur();
  });

  /* --- export ------------------------------------------------------------ */

  function ratingsFile() {
    var out = [];
    data.candidates.forEach(function (c) {
      var r = state.ratings[c.id];
      if (!r || !ANSWERS[r.answer]) return;
      var e = { candidate: c.id, answer: r.answer, time: r.time };
      if (r.labels.length) e.labels = r.labels.slice();
      if (r.comment) e.comment = r.comment;
      out.push(e);
    });
    return {
      format: RATINGS_FORMAT,
      version: RATINGS_VERSION,
      export_id: data.export_id,
      checksum: data.checksum,
      'class': data['class'].mid,
      annotator: currentAnnotator,
      exported_at: new Date().toISOString(),
      ratings: out
    };
  }

  function exportRatings() {
    var file = ratingsFile();
    var blob = new Blob([JSON.stringify(file, null, 1) + '\n'], { type: 'application/json' });
    var url = URL.createObjectURL(blob);
    var a = document.createElement('a');
    var who = currentAnnotator.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40);
    a.href = url;
    a.download = 'ratings-' + data.export_id.slice(0, 8) + '-' + who + '.json';
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    $('saved').textContent = 'exported ' + file.ratings.length + ' ratings';
  }

  /* --- keyboard ----------------------------------------------------------- */

  /* Keys typed into a text field are text, not shortcuts (a focused
   * checkbox or button is not a text field). */
  function typing(el) {
    if (!el) return false;
    if (el.tagName === 'TEXTAREA' || el.isContentEditable) return true;
    return el.tagName === 'INPUT' && /^(text|search|email|url|tel|password|number)$/i.test(el.type);
  }

  document.addEventListener('keydown', function (ev) {
    if (!state || !$('login').hidden) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    var k = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (KEYS[k]) {
      ev.preventDefault();
      answer(KEYS[k]);
    } else if (k === 'ArrowLeft') {
      ev.preventDefault();
      go(-1);
    } else if (k === 'ArrowRight') {
      ev.preventDefault();
      go(1);
    } else if (k === ' ') {
      ev.preventDefault(); /* not a page scroll, not a click on a focused button */
      togglePlay();
    }
  });

  /* --- start --------------------------------------------------------------- */

  var currentAnnotator = null;

  function start(annotator) {
    currentAnnotator = annotator;
    $('annotator').textContent = annotator;
    $('login').hidden = true;
    $('main').hidden = false;
    load(annotator);
    show();
  }

  function validAnnotator(s) {
    return s.length > 0 && s.length <= 128 && !/[\u0000-\u001f\u007f]/.test(s);
  }

  if (!data || !Array.isArray(data.candidates) || data.candidates.length === 0) {
    $('nodata').hidden = false;
    return;
  }

  $('class-name').textContent = data['class'].name;
  $('class-path').textContent = (data['class'].path || []).join(' \u203a ');
  $('class-desc').textContent = data['class'].description;
  document.title = 'Review: ' + data['class'].name;

  $('prev').addEventListener('click', function () { go(-1); });
  $('next').addEventListener('click', function () { go(1); });
  $('play').addEventListener('click', togglePlay);
  $('export').addEventListener('click', exportRatings);
  $('advance').addEventListener('change', function () { this.blur(); });
  document.querySelectorAll('.answers button').forEach(function (b) {
    b.addEventListener('click', function () { answer(b.getAttribute('data-answer')); });
  });
  /* Buttons keep no focus after a click, so space and arrows stay ours. */
  document.querySelectorAll('button').forEach(function (b) {
    b.addEventListener('mouseup', function () { b.blur(); });
  });
  $('spec-wrap').addEventListener('click', function (ev) {
    var box = this.getBoundingClientRect(), c = cur(), audio = $('audio');
    var t = (ev.clientX - box.left) / box.width * c.duration_s;
    if (isFinite(t)) {
      audio.currentTime = Math.max(0, t);
      if (audio.paused) togglePlay();
      playhead();
    }
  });
  var audio = $('audio');
  audio.addEventListener('play', function () { window.requestAnimationFrame(tick); });
  audio.addEventListener('pause', playhead);
  audio.addEventListener('ended', playhead);
  audio.addEventListener('timeupdate', playhead);

  var stored = null;
  try { stored = window.localStorage.getItem(ANNOTATOR_KEY); } catch (e) { stored = null; }
  if (stored && validAnnotator(stored)) {
    start(stored);
  } else {
    $('login').hidden = false;
    $('annotator-input').focus();
    $('login-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var who = $('annotator-input').value.trim();
      if (!validAnnotator(who)) return;
      try { window.localStorage.setItem(ANNOTATOR_KEY, who); } catch (e) { /* asked again next time */ }
      start(who);
    });
  }
})();
