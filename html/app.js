// yunpan web client: plain JS over the course's JSON API (see
// docs/api.md §1). Every call is a POST of a JSON body;
// results come back as {"code":"NNN", ...}, with HTTP 200 as the course's
// server answered (or a fitting 4xx when the server runs with
// http_status_codes on): the page always reads the code from the body.
(function () {
  'use strict';

  var PAGE = 10;                 // rows per page, as the course's client
  var MAX_UPLOAD = 50 << 20;     // Nginx's client_max_body_size (50m)
  var MAX_HASH = 50 << 20;       // files up to this size are hashed for instant upload

  var $ = function (id) { return document.getElementById(id); };
  var state = {
    user: sessionStorage.getItem('yunpan.user') || '',
    token: sessionStorage.getItem('yunpan.token') || '',
    my: { page: 0, total: 0, sort: 'normal' },
    share: { page: 0, total: 0 },
    busy: false
  };

  // ---- helpers -------------------------------------------------------------

  function post(path, body) {
    return fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
      credentials: 'same-origin'
    }).then(function (r) {
      return r.text().then(function (text) {
        var data;
        // Any status: refusals carry their code in the body. Only a body
        // that is no JSON (a proxy's error page) falls back to the status.
        try { data = JSON.parse(text); } catch (e) { data = { code: String(r.status), raw: text }; }
        if (data === null || typeof data !== 'object' && typeof data !== 'number') data = { code: String(r.status), raw: text };
        if (typeof data === 'number') data = { code: '000', num: data };
        data.httpStatus = r.status;
        return data;
      });
    });
  }

  function authBody(extra) {
    var b = { user: state.user, token: state.token };
    for (var k in extra) b[k] = extra[k];
    return b;
  }

  function setMsg(el, text, kind) {
    el = typeof el === 'string' ? $(el) : el;
    el.textContent = text || '';
    el.className = 'msg' + (kind ? ' ' + kind : '');
  }

  var toastTimer;
  function toast(text) {
    var t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 3000);
  }

  function logRecord(text) {
    var li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + '  ' + text;
    var log = $('transfer-log');
    log.insertBefore(li, log.firstChild);
    var keep = [];
    for (var i = 0; i < log.children.length && i < 200; i++) keep.push(log.children[i].textContent);
    try { localStorage.setItem('yunpan.log.' + state.user, JSON.stringify(keep)); } catch (e) { /* quota */ }
  }

  function loadRecords() {
    var log = $('transfer-log');
    log.textContent = '';
    var keep = [];
    try { keep = JSON.parse(localStorage.getItem('yunpan.log.' + state.user) || '[]'); } catch (e) { keep = []; }
    keep.forEach(function (t) {
      var li = document.createElement('li');
      li.textContent = t;
      log.appendChild(li);
    });
  }

  function humanSize(n) {
    n = Number(n) || 0;
    if (n < 1024) return n + ' B';
    var u = ['KiB', 'MiB', 'GiB', 'TiB'], i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return n.toFixed(n < 10 ? 1 : 0) + ' ' + u[i];
  }

  // The course's two schemas name the fields differently ([S] filename/time,
  // [D] file_name/create_time); accept both.
  function fname(f) { return f.filename !== undefined ? f.filename : (f.file_name !== undefined ? f.file_name : f.fileName); }
  function ftime(f) { return f.time || f.create_time || ''; }

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function button(label, cls, onClick) {
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.className = cls;
    b.addEventListener('click', onClick);
    return b;
  }

  // A token error anywhere sends the user back to the login page.
  function tokenBad(res) {
    if (res.code === '111') {
      signOut('Your session has ended, please log in again.');
      return true;
    }
    return false;
  }

  // ---- views ---------------------------------------------------------------

  function show(view) {
    ['view-login', 'view-reg', 'view-main'].forEach(function (v) { $(v).hidden = v !== view; });
    $('session').hidden = view !== 'view-main';
  }

  function showTab(name) {
    document.querySelectorAll('.tab').forEach(function (b) {
      b.classList.toggle('active', b.dataset.tab === name);
    });
    ['myfiles', 'share', 'rank', 'transfer'].forEach(function (t) { $('tab-' + t).hidden = t !== name; });
    if (name === 'myfiles') loadMyFiles();
    if (name === 'share') loadShared();
    if (name === 'rank') loadRanking();
  }

  function signIn(user, token) {
    state.user = user;
    state.token = token;
    sessionStorage.setItem('yunpan.user', user);
    sessionStorage.setItem('yunpan.token', token);
    $('whoami').textContent = user;
    show('view-main');
    loadRecords();
    showTab('myfiles');
  }

  function signOut(msg) {
    state.user = state.token = '';
    sessionStorage.removeItem('yunpan.user');
    sessionStorage.removeItem('yunpan.token');
    show('view-login');
    setMsg('login-msg', msg || '', msg ? 'err' : '');
  }

  // ---- register / login / logout ---------------------------------------------

  $('show-reg').addEventListener('click', function (e) { e.preventDefault(); show('view-reg'); });
  $('show-login').addEventListener('click', function (e) { e.preventDefault(); show('view-login'); });

  $('reg-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var user = $('reg-user').value.trim(), nick = $('reg-nick').value.trim();
    var pwd = $('reg-pwd').value, pwd2 = $('reg-pwd2').value;
    var phone = $('reg-phone').value.trim(), email = $('reg-email').value.trim();
    if (!/^[A-Za-z0-9_@.\-]{3,32}$/.test(user)) return setMsg('reg-msg', 'User name: 3 to 32 letters, digits or _ @ . -', 'err');
    if (pwd.length < 6) return setMsg('reg-msg', 'Password: at least 6 characters', 'err');
    if (pwd !== pwd2) return setMsg('reg-msg', 'The two passwords differ', 'err');
    if (!/^1\d{10}$/.test(phone)) return setMsg('reg-msg', 'Phone: 11 digits starting with 1', 'err');
    setMsg('reg-msg', 'Registering…');
    post('/reg', {
      userName: user, nickName: nick, firstPwd: YunMD5.ofString(pwd), phone: phone, email: email
    }).then(function (res) {
      if (res.code === '002') {
        setMsg('reg-msg', '');
        show('view-login');
        $('login-user').value = user;
        $('login-pwd').value = pwd;
        setMsg('login-msg', 'Registered: you can log in now.', 'ok');
      } else if (res.code === '003') {
        setMsg('reg-msg', 'This user name (or nickname) is taken.', 'err');
      } else {
        setMsg('reg-msg', 'Registration failed (' + res.code + ').', 'err');
      }
    }).catch(function (err) { setMsg('reg-msg', 'Network error: ' + err, 'err'); });
  });

  $('login-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var user = $('login-user').value.trim(), pwd = $('login-pwd').value;
    setMsg('login-msg', 'Logging in…');
    post('/login', { user: user, pwd: YunMD5.ofString(pwd) }).then(function (res) {
      if (res.code === '000' && res.token) {
        setMsg('login-msg', '');
        $('login-pwd').value = '';
        signIn(user, res.token);
      } else if (res.code === '027') {
        setMsg('login-msg', 'Too many failed attempts: try again in ' + (res.retry_after || 1) + ' s.', 'err');
      } else if (res.code === '001' && res.msg && res.msg.indexOf('wrong') < 0) {
        setMsg('login-msg', 'Login failed: ' + res.msg, 'err');
      } else {
        setMsg('login-msg', 'Wrong user name or password.', 'err');
      }
    }).catch(function (err) { setMsg('login-msg', 'Network error: ' + err, 'err'); });
  });

  $('logout-btn').addEventListener('click', function () {
    var body = authBody({});
    post('/logout', body).catch(function () { /* the local sign-out is what matters */ })
      .then(function () { signOut(''); });
  });

  // ---- my files ----------------------------------------------------------------

  function loadMyFiles() {
    var my = state.my;
    return post('/myfiles?cmd=count', authBody({})).then(function (res) {
      if (tokenBad(res)) return null;
      my.total = Number(res.num) || 0;
      $('myfiles-count').textContent = my.total + ' file' + (my.total === 1 ? '' : 's');
      var pages = Math.max(1, Math.ceil(my.total / PAGE));
      if (my.page >= pages) my.page = pages - 1;
      return post('/myfiles?cmd=' + my.sort, authBody({ start: my.page * PAGE, count: PAGE }));
    }).then(function (res) {
      if (!res) return;
      if (tokenBad(res)) return;
      var files = res.files || [];
      renderMyFiles(files);
      var pages = Math.max(1, Math.ceil(my.total / PAGE));
      $('page-info').textContent = 'page ' + (my.page + 1) + ' / ' + pages;
      $('page-prev').disabled = my.page === 0;
      $('page-next').disabled = my.page + 1 >= pages;
      if (res.code && res.code !== '015' && !res.files) setMsg('myfiles-msg', 'Could not load the list (' + res.code + ').', 'err');
    }).catch(function (err) { setMsg('myfiles-msg', 'Network error: ' + err, 'err'); });
  }

  function renderMyFiles(files) {
    var tbody = $('myfiles-table').tBodies[0];
    tbody.textContent = '';
    $('myfiles-empty').hidden = files.length > 0;
    files.forEach(function (f) {
      var name = fname(f), shared = Number(f.share_status || f.shared_status || 0) === 1;
      var tr = document.createElement('tr');
      tr.className = 'file-row';
      tr.dataset.name = name;
      tr.dataset.md5 = f.md5;
      cell(tr, name, 'name');
      cell(tr, humanSize(f.size), 'num');
      cell(tr, ftime(f));
      cell(tr, String(f.pv || 0), 'num pv');
      var badge = document.createElement('span');
      badge.className = 'badge' + (shared ? ' on' : '');
      badge.textContent = shared ? 'shared' : 'private';
      cell(tr, badge, 'shared');
      var acts = cell(tr, '', 'acts');
      acts.appendChild(button('Download', 'act-download', function () { download(f, 'mine'); }));
      var sh = button('Share', 'act-share light', function () { shareFile(f); });
      sh.disabled = shared;
      acts.appendChild(sh);
      var del = button('Delete', 'act-del danger', function () {
        // Two clicks instead of a modal confirm(): the first arms the button.
        if (!del.dataset.armed) {
          del.dataset.armed = '1';
          del.textContent = 'Confirm delete';
          setTimeout(function () { delete del.dataset.armed; del.textContent = 'Delete'; }, 5000);
          return;
        }
        deleteFile(f);
      });
      acts.appendChild(del);
      tbody.appendChild(tr);
    });
  }

  function shareFile(f) {
    post('/dealfile?cmd=share', authBody({ md5: f.md5, filename: fname(f) })).then(function (res) {
      if (tokenBad(res)) return;
      var msg = { '010': 'Shared: it is in the public list now.', '011': 'Sharing failed.', '012': 'This file is already shared (by you or by someone else under this name).' }[res.code];
      setMsg('myfiles-msg', msg || 'Sharing failed (' + res.code + ').', res.code === '010' ? 'ok' : 'err');
      loadMyFiles();
    });
  }

  function deleteFile(f) {
    post('/dealfile?cmd=del', authBody({ md5: f.md5, filename: fname(f) })).then(function (res) {
      if (tokenBad(res)) return;
      setMsg('myfiles-msg', res.code === '013' ? 'Deleted ' + fname(f) + '.' : 'Delete failed (' + res.code + ').', res.code === '013' ? 'ok' : 'err');
      logRecord((res.code === '013' ? 'deleted ' : 'delete failed ') + fname(f));
      loadMyFiles();
    });
  }

  // download asks /download for the file's URL (the storage path Nginx serves
  // from disk), hands it to the browser, then reports the download (pv).
  function download(f, from) {
    var name = fname(f);
    var body = authBody({ md5: f.md5, filename: name });
    if (from === 'share') body.owner = f.user;
    post('/download', body).then(function (res) {
      if (tokenBad(res)) return null;
      if (res.code !== '025' || !res.url) throw new Error(res.msg || 'no link (' + res.code + ')');
      var url = res.url;
      var link = $('download-link');
      link.href = url + (url.indexOf('?') < 0 ? '?' : '&') + 'attachment=' + encodeURIComponent(name);
      link.textContent = name;
      link.setAttribute('download', name);
      link.dataset.md5 = f.md5;
      link.click();
      var pv = from === 'share'
        ? post('/dealsharefile?cmd=pv', authBody({ md5: f.md5, filename: name }))
        : post('/dealfile?cmd=pv', authBody({ md5: f.md5, filename: name }));
      return pv;
    }).then(function (res) {
      if (!res) return;
      logRecord('download ' + name + (res.code === '016' ? ' OK' : ' (pv ' + res.code + ')'));
      if (from === 'share') loadShared(); else loadMyFiles();
    }).catch(function (err) {
      logRecord('download ' + name + ' failed: ' + err.message);
      toast('Download failed: ' + err.message);
    });
  }

  $('sort').addEventListener('change', function () { state.my.sort = this.value; state.my.page = 0; loadMyFiles(); });
  $('refresh-btn').addEventListener('click', loadMyFiles);
  $('page-prev').addEventListener('click', function () { if (state.my.page > 0) { state.my.page--; loadMyFiles(); } });
  $('page-next').addEventListener('click', function () { state.my.page++; loadMyFiles(); });

  // ---- upload --------------------------------------------------------------------

  function setProgress(pct, text) {
    pct = Math.max(0, Math.min(100, Math.round(pct)));
    $('upload-progress').value = pct;
    $('upload-percent').textContent = pct + '%';
    if (text !== undefined) setMsg('upload-status', text);
  }

  // instant is the instant upload (秒传): /md5 with the size answers a
  // challenge (byte ranges and a nonce), and the page proves it holds the
  // bytes by answering with YunMD5.rangeProof; the server links the content
  // only then (006). 005: already in the list; 007: upload it.
  function instant(file, md5) {
    var ask = authBody({ md5: md5, fileName: file.name, size: file.size });
    return post('/md5', ask).then(function (res) {
      var ch = res.challenge;
      if (res.code !== '007' || !ch || !ch.nonce || !ch.ranges) return res;
      return YunMD5.rangeProof(file, ch.nonce, ch.ranges).then(function (proof) {
        ask.nonce = ch.nonce;
        ask.proof = proof;
        return post('/md5', ask);
      });
    });
  }

  function sendFile(file, md5) {
    return new Promise(function (resolve, reject) {
      var fd = new FormData();
      fd.append('user', state.user);
      fd.append('token', state.token);
      if (md5) fd.append('md5', md5);
      fd.append('size', String(file.size));
      fd.append('file', file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open('POST', '/upload');
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) setProgress(100 * e.loaded / e.total, 'Uploading ' + file.name + '…');
      };
      xhr.onload = function () {
        var res;
        try { res = JSON.parse(xhr.responseText); } catch (e) { res = { code: String(xhr.status) }; }
        resolve(res);
      };
      xhr.onerror = function () { reject(new Error('network error')); };
      xhr.send(fd);
    });
  }

  function uploadOne(file) {
    if (file.size > MAX_UPLOAD) {
      logRecord('upload ' + file.name + ': larger than ' + humanSize(MAX_UPLOAD) + ', refused');
      return Promise.resolve({ code: 'big' });
    }
    setProgress(0, 'Hashing ' + file.name + '…');
    var hashed = file.size <= MAX_HASH
      ? YunMD5.ofBlob(file, function (done, total) { setMsg('upload-status', 'Hashing ' + file.name + ' ' + Math.round(100 * done / total) + '%'); })
      : Promise.resolve('');
    return hashed.then(function (md5) {
      if (!md5) return { code: '007', md5: '' };
      return instant(file, md5).then(function (res) { res.md5 = md5; return res; });
    }).then(function (res) {
      if (tokenBad(res)) return res;
      if (res.code === '005') { setProgress(100, file.name + ' is already in your files.'); logRecord('upload ' + file.name + ': already exists'); return res; }
      if (res.code === '006') { setProgress(100, file.name + ' uploaded instantly: the server already had its bytes.'); logRecord('upload ' + file.name + ': instant upload OK'); return res; }
      return sendFile(file, res.md5).then(function (up) {
        if (tokenBad(up)) return up;
        if (up.code === '008') { setProgress(100, 'Uploaded ' + file.name + '.'); logRecord('upload ' + file.name + ': OK'); }
        else if (up.code === '413') { setMsg('upload-status', file.name + ' is too large.', 'err'); logRecord('upload ' + file.name + ': too large'); }
        else {
          var why = up.msg ? ': ' + up.msg : ' (' + up.code + ')';
          setMsg('upload-status', 'Upload of ' + file.name + ' failed' + why + '.', 'err');
          logRecord('upload ' + file.name + ': failed' + why);
        }
        return up;
      });
    });
  }

  $('upload-btn').addEventListener('click', function () {
    var files = Array.prototype.slice.call($('upload-file').files);
    if (!files.length) { setMsg('upload-status', 'Choose one or more files first.', 'err'); return; }
    if (state.busy) return;
    state.busy = true;
    $('upload-btn').disabled = true;
    var seen = {};
    files = files.filter(function (f) { var k = f.name + '/' + f.size; if (seen[k]) return false; seen[k] = 1; return true; });
    files.reduce(function (p, f) { return p.then(function () { return uploadOne(f); }); }, Promise.resolve())
      .catch(function (err) { setMsg('upload-status', 'Upload failed: ' + err.message, 'err'); })
      .then(function () {
        state.busy = false;
        $('upload-btn').disabled = false;
        $('upload-file').value = '';
        loadMyFiles();
      });
  });

  // ---- public files ------------------------------------------------------------

  function loadShared() {
    var sh = state.share;
    return post('/sharefiles?cmd=count', {}).then(function (res) {
      sh.total = Number(res.num !== undefined ? res.num : res.count) || 0;
      $('share-count').textContent = sh.total + ' shared file' + (sh.total === 1 ? '' : 's');
      var pages = Math.max(1, Math.ceil(sh.total / PAGE));
      if (sh.page >= pages) sh.page = pages - 1;
      return post('/sharefiles?cmd=normal', { start: sh.page * PAGE, count: PAGE });
    }).then(function (res) {
      var files = res.files || [];
      renderShared(files);
      var pages = Math.max(1, Math.ceil(sh.total / PAGE));
      $('share-page-info').textContent = 'page ' + (sh.page + 1) + ' / ' + pages;
      $('share-prev').disabled = sh.page === 0;
      $('share-next').disabled = sh.page + 1 >= pages;
    }).catch(function (err) { setMsg('share-msg', 'Network error: ' + err, 'err'); });
  }

  function renderShared(files) {
    var tbody = $('share-table').tBodies[0];
    tbody.textContent = '';
    $('share-empty').hidden = files.length > 0;
    files.forEach(function (f) {
      var name = fname(f), mine = f.user === state.user;
      var tr = document.createElement('tr');
      tr.className = 'share-row';
      tr.dataset.name = name;
      tr.dataset.md5 = f.md5;
      cell(tr, name, 'name');
      cell(tr, f.user || '');
      cell(tr, humanSize(f.size), 'num');
      cell(tr, ftime(f));
      cell(tr, String(f.pv || 0), 'num pv');
      var acts = cell(tr, '', 'acts');
      acts.appendChild(button('Download', 'act-sdownload', function () { download(f, 'share'); }));
      if (mine) {
        acts.appendChild(button('Cancel share', 'act-cancel light', function () { dealShare('cancel', f); }));
      } else {
        acts.appendChild(button('Save to my files', 'act-save light', function () { dealShare('save', f); }));
      }
      tbody.appendChild(tr);
    });
  }

  function dealShare(cmd, f) {
    post('/dealsharefile?cmd=' + cmd, authBody({ md5: f.md5, filename: fname(f), owner: f.user })).then(function (res) {
      if (tokenBad(res)) return;
      var msgs = {
        '018': 'Share cancelled.', '019': 'Cancel failed.',
        '020': 'Saved to your files.', '021': 'It is already in your files.', '022': 'Save failed.'
      };
      var ok = res.code === '018' || res.code === '020';
      setMsg('share-msg', msgs[res.code] || cmd + ' failed (' + res.code + ').', ok ? 'ok' : 'err');
      logRecord(cmd + ' ' + fname(f) + ': ' + (msgs[res.code] || res.code));
      loadShared();
    });
  }

  $('share-refresh').addEventListener('click', loadShared);
  $('share-prev').addEventListener('click', function () { if (state.share.page > 0) { state.share.page--; loadShared(); } });
  $('share-next').addEventListener('click', function () { state.share.page++; loadShared(); });

  // ---- ranking -----------------------------------------------------------------

  function loadRanking() {
    setMsg('rank-msg', '');
    return post('/sharefiles?cmd=pvdesc', { start: 0, count: 50 }).then(function (res) {
      var files = res.files || [];
      var tbody = $('rank-table').tBodies[0];
      tbody.textContent = '';
      $('rank-empty').hidden = files.length > 0;
      files.forEach(function (f, i) {
        var tr = document.createElement('tr');
        tr.className = 'rank-row' + (i < 3 ? ' rank' + (i + 1) : '');
        tr.dataset.name = fname(f);
        cell(tr, String(i + 1));
        cell(tr, fname(f), 'name');
        cell(tr, String(f.pv || 0), 'num pv');
        tbody.appendChild(tr);
      });
    }).catch(function (err) { setMsg('rank-msg', 'Network error: ' + err, 'err'); });
  }

  $('rank-refresh').addEventListener('click', loadRanking);

  // ---- tabs and start ------------------------------------------------------------

  document.querySelectorAll('.tab').forEach(function (b) {
    b.addEventListener('click', function () { showTab(b.dataset.tab); });
  });
  $('transfer-clear').addEventListener('click', function () {
    $('transfer-log').textContent = '';
    localStorage.removeItem('yunpan.log.' + state.user);
  });

  if (state.user && state.token) signIn(state.user, state.token);
  else show(location.hash === '#register' ? 'view-reg' : 'view-login');
})();
