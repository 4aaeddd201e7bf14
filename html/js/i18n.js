// Every string the page shows, in English and Chinese, and the locale's
// formats for numbers, sizes and dates (Intl). The language comes from
// the switch (kept in localStorage), else from the browser.
import { set, state } from './store.js';

const en = {
  'app.title': 'yunpan cloud disk',
  'lang.label': 'Language',
  'loading': 'Loading…',
  'login.title': 'Log in',
  'login.user': 'User name',
  'login.pwd': 'Password',
  'login.submit': 'Log in',
  'login.busy': 'Logging in…',
  'login.noAccount': 'No account yet?',
  'login.toReg': 'Register',
  'login.wrong': 'Wrong user name or password.',
  'login.locked': 'Too many failed attempts: try again in {s} s.',
  'login.failed': 'Login failed: {msg}',
  'login.expired': 'Your session has ended: please log in again.',
  'login.registered': 'Registered: you can log in now.',
  'reg.title': 'Register',
  'reg.user': 'User name',
  'reg.userHint': '3–32 letters, digits, _ @ . -',
  'reg.nick': 'Nickname',
  'reg.pwd': 'Password',
  'reg.pwd2': 'Confirm password',
  'reg.phone': 'Phone',
  'reg.email': 'E-mail',
  'reg.submit': 'Register',
  'reg.busy': 'Registering…',
  'reg.back': 'Back to log in',
  'reg.badUser': 'User name: 3 to 32 letters, digits or _ @ . -',
  'reg.badPwd': 'Password: at least 6 characters.',
  'reg.pwdDiffer': 'The two passwords differ.',
  'reg.badPhone': 'Phone: 11 digits starting with 1.',
  'reg.taken': 'This user name (or nickname) is taken.',
  'reg.failed': 'Registration failed: {msg}',
  'nav.label': 'Sections',
  'nav.files': 'My files',
  'nav.share': 'Public files',
  'nav.rank': 'Ranking',
  'nav.transfers': 'Transfers',
  'session.user': 'Signed in as {user}',
  'logout': 'Log out',
  'refresh': 'Refresh',
  'sort.label': 'Sort',
  'sort.normal': 'Upload order',
  'sort.pvdesc': 'Downloads, most first',
  'sort.pvasc': 'Downloads, fewest first',
  'files.count': '{n, plural, one {# file} other {# files}}',
  'share.count': '{n, plural, one {# shared file} other {# shared files}}',
  'col.name': 'Name',
  'col.size': 'Size',
  'col.uploaded': 'Uploaded',
  'col.downloads': 'Downloads',
  'col.shared': 'Shared',
  'col.sharedBy': 'Shared by',
  'col.sharedAt': 'Shared at',
  'col.actions': 'Actions',
  'col.rank': 'Rank',
  'badge.shared': 'shared',
  'badge.private': 'private',
  'act.menu': 'Actions for {name}',
  'act.download': 'Download',
  'act.share': 'Share',
  'act.delete': 'Delete',
  'act.confirmDelete': 'Confirm delete',
  'act.cancelShare': 'Cancel share',
  'act.save': 'Save to my files',
  'empty.files': 'No files yet: upload some with the button above, or drop them here.',
  'empty.share': 'Nothing is shared yet.',
  'empty.rank': 'No shared files yet.',
  'empty.transfers': 'No transfers yet.',
  'pager.prev': 'Previous page',
  'pager.next': 'Next page',
  'pager.info': 'Page {page} of {pages}',
  'msg.shared': 'Shared {name}: it is in the public list now.',
  'msg.shareFailed': 'Sharing {name} failed.',
  'msg.alreadyShared': '{name} is already shared (by you or by someone else under this name).',
  'msg.confirmDelete': 'Press “Confirm delete” to delete {name}.',
  'msg.deleted': 'Deleted {name}.',
  'msg.deleteFailed': 'Deleting {name} failed.',
  'msg.unshared': 'Share of {name} cancelled.',
  'msg.unshareFailed': 'Cancelling the share of {name} failed.',
  'msg.saved': 'Saved {name} to your files.',
  'msg.alreadySaved': '{name} is already in your files.',
  'msg.saveFailed': 'Saving {name} failed.',
  'msg.downloading': 'Downloading {name}…',
  'msg.downloadFailed': 'Download of {name} failed: {why}',
  'lastDownload': 'Last download:',
  'err.offline': 'The server cannot be reached: check your connection, then try again.',
  'err.busy': 'The server is busy or restarting: try again in a moment.',
  'err.timeout': 'The server took too long to answer: try again.',
  'err.server': 'The server had a problem: try again later.',
  'err.expired': 'Your session has ended: please log in again.',
  'err.unknown': 'Something went wrong: try again.',
  'err.code': 'the server answered {code}',
  'up.choose': 'Upload files',
  'up.hint': 'or drop files anywhere on the page',
  'up.input': 'Choose files to upload',
  'up.drop': 'Drop files to upload them',
  'up.queue': 'Uploads',
  'up.clear': 'Clear finished',
  'up.cancel': 'Cancel',
  'up.retry': 'Retry',
  'up.remove': 'Remove',
  'up.cancelOf': 'Cancel upload of {name}',
  'up.retryOf': 'Retry upload of {name}',
  'up.removeOf': 'Remove {name} from the list',
  'up.progressOf': 'Progress of {name}',
  'up.phase.queued': 'Waiting',
  'up.phase.checking': 'Checking',
  'up.phase.hashing': 'Hashing',
  'up.phase.uploading': 'Uploading',
  'up.phase.done': 'Done',
  'up.phase.failed': 'Failed',
  'up.phase.cancelled': 'Cancelled',
  'up.phase.waiting': 'Reconnecting',
  'up.phase.paused': 'Unfinished',
  'up.pickAgain': '{done} of {name} are on the server. Choose the file again to go on.',
  'up.resume': 'Choose file to resume',
  'up.resumeOf': 'Choose {name} again to resume its upload',
  'up.discard': 'Discard',
  'up.discardOf': 'Discard the unfinished upload of {name}',
  'up.notSame': 'That is not the file {name} was started with (name, size and date must match).',
  'up.unfinished': '{n, plural, one {# unfinished upload} other {# unfinished uploads}} can be resumed.',
  'up.speed': '{speed}/s',
  'up.left': '{time} left',
  'up.tooBig': '{name} is larger than {max}: it cannot be uploaded.',
  'up.empty': '{name} is a folder or an empty name: skipped.',
  'up.uploaded': 'Uploaded {name}.',
  'up.instant': '{name} uploaded instantly: the server already had its bytes.',
  'up.exists': '{name} is already in your files.',
  'up.failed': 'Upload of {name} failed: {why}',
  'up.cancelled': 'Upload of {name} cancelled.',
  'up.started': 'Uploading {n, plural, one {# file} other {# files}}.',
  'tr.clear': 'Clear',
  'tr.upload': 'upload {name}: {result}',
  'tr.download': 'download {name}: {result}',
  'tr.delete': 'delete {name}: {result}',
  'tr.ok': 'OK',
  'skip': 'Skip to content',
};

const zh = {
  'app.title': '云盘',
  'lang.label': '语言',
  'loading': '加载中…',
  'login.title': '登录',
  'login.user': '用户名',
  'login.pwd': '密码',
  'login.submit': '登录',
  'login.busy': '正在登录…',
  'login.noAccount': '还没有账号？',
  'login.toReg': '注册',
  'login.wrong': '用户名或密码错误。',
  'login.locked': '失败次数过多：请 {s} 秒后再试。',
  'login.failed': '登录失败：{msg}',
  'login.expired': '登录已过期：请重新登录。',
  'login.registered': '注册成功：现在可以登录了。',
  'reg.title': '注册',
  'reg.user': '用户名',
  'reg.userHint': '3–32 位字母、数字或 _ @ . -',
  'reg.nick': '昵称',
  'reg.pwd': '密码',
  'reg.pwd2': '确认密码',
  'reg.phone': '手机号',
  'reg.email': '电子邮箱',
  'reg.submit': '注册',
  'reg.busy': '正在注册…',
  'reg.back': '返回登录',
  'reg.badUser': '用户名：3 到 32 位字母、数字或 _ @ . -',
  'reg.badPwd': '密码：至少 6 个字符。',
  'reg.pwdDiffer': '两次输入的密码不一致。',
  'reg.badPhone': '手机号：以 1 开头的 11 位数字。',
  'reg.taken': '该用户名（或昵称）已被占用。',
  'reg.failed': '注册失败：{msg}',
  'nav.label': '栏目',
  'nav.files': '我的文件',
  'nav.share': '共享列表',
  'nav.rank': '下载榜',
  'nav.transfers': '传输记录',
  'session.user': '当前用户：{user}',
  'logout': '退出登录',
  'refresh': '刷新',
  'sort.label': '排序',
  'sort.normal': '按上传顺序',
  'sort.pvdesc': '下载量从高到低',
  'sort.pvasc': '下载量从低到高',
  'files.count': '共 {n} 个文件',
  'share.count': '共 {n} 个共享文件',
  'col.name': '文件名',
  'col.size': '大小',
  'col.uploaded': '上传时间',
  'col.downloads': '下载量',
  'col.shared': '共享',
  'col.sharedBy': '分享者',
  'col.sharedAt': '共享时间',
  'col.actions': '操作',
  'col.rank': '排名',
  'badge.shared': '已共享',
  'badge.private': '私有',
  'act.menu': '{name} 的操作',
  'act.download': '下载',
  'act.share': '共享',
  'act.delete': '删除',
  'act.confirmDelete': '确认删除',
  'act.cancelShare': '取消共享',
  'act.save': '转存到我的文件',
  'empty.files': '还没有文件：用上面的按钮上传，或把文件拖到这里。',
  'empty.share': '还没有共享的文件。',
  'empty.rank': '还没有共享的文件。',
  'empty.transfers': '还没有传输记录。',
  'pager.prev': '上一页',
  'pager.next': '下一页',
  'pager.info': '第 {page} 页，共 {pages} 页',
  'msg.shared': '已共享 {name}：它现在在共享列表中。',
  'msg.shareFailed': '共享 {name} 失败。',
  'msg.alreadyShared': '{name} 已经共享过了（你或别人以同名共享）。',
  'msg.confirmDelete': '再按“确认删除”即删除 {name}。',
  'msg.deleted': '已删除 {name}。',
  'msg.deleteFailed': '删除 {name} 失败。',
  'msg.unshared': '已取消共享 {name}。',
  'msg.unshareFailed': '取消共享 {name} 失败。',
  'msg.saved': '已把 {name} 转存到我的文件。',
  'msg.alreadySaved': '{name} 已在你的文件中。',
  'msg.saveFailed': '转存 {name} 失败。',
  'msg.downloading': '正在下载 {name}…',
  'msg.downloadFailed': '下载 {name} 失败：{why}',
  'lastDownload': '最近下载：',
  'err.offline': '无法连接服务器：请检查网络后重试。',
  'err.busy': '服务器繁忙或正在重启：请稍后再试。',
  'err.timeout': '服务器响应超时：请重试。',
  'err.server': '服务器出了问题：请稍后再试。',
  'err.expired': '登录已过期：请重新登录。',
  'err.unknown': '出错了：请重试。',
  'err.code': '服务器返回 {code}',
  'up.choose': '上传文件',
  'up.hint': '或把文件拖到页面任意位置',
  'up.input': '选择要上传的文件',
  'up.drop': '松开即可上传',
  'up.queue': '上传队列',
  'up.clear': '清除已完成',
  'up.cancel': '取消',
  'up.retry': '重试',
  'up.remove': '移除',
  'up.cancelOf': '取消上传 {name}',
  'up.retryOf': '重试上传 {name}',
  'up.removeOf': '从列表移除 {name}',
  'up.progressOf': '{name} 的进度',
  'up.phase.queued': '等待中',
  'up.phase.checking': '检查中',
  'up.phase.hashing': '计算校验值',
  'up.phase.uploading': '上传中',
  'up.phase.done': '已完成',
  'up.phase.failed': '失败',
  'up.phase.cancelled': '已取消',
  'up.phase.waiting': '重新连接中',
  'up.phase.paused': '未完成',
  'up.pickAgain': '{name} 已有 {done} 在服务器上。再次选择该文件即可继续上传。',
  'up.resume': '选择文件继续上传',
  'up.resumeOf': '再次选择 {name} 以继续上传',
  'up.discard': '放弃',
  'up.discardOf': '放弃 {name} 未完成的上传',
  'up.notSame': '这不是开始上传 {name} 时的文件（名称、大小和修改时间须一致）。',
  'up.unfinished': '有 {n} 个未完成的上传可以继续。',
  'up.speed': '{speed}/秒',
  'up.left': '剩余 {time}',
  'up.tooBig': '{name} 超过 {max}，无法上传。',
  'up.empty': '{name} 是文件夹或名称为空：已跳过。',
  'up.uploaded': '已上传 {name}。',
  'up.instant': '{name} 秒传成功：服务器已有该文件。',
  'up.exists': '{name} 已在你的文件中。',
  'up.failed': '上传 {name} 失败：{why}',
  'up.cancelled': '已取消上传 {name}。',
  'up.started': '正在上传 {n} 个文件。',
  'tr.clear': '清空',
  'tr.upload': '上传 {name}：{result}',
  'tr.download': '下载 {name}：{result}',
  'tr.delete': '删除 {name}：{result}',
  'tr.ok': '成功',
  'skip': '跳到正文',
};

export const messages = { en, 'zh-CN': zh };
export const languages = [['en', 'English'], ['zh-CN', '中文']];
const KEY = 'yunpan.lang';

export function initialLang() {
  let saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { /* storage off */ }
  if (saved && messages[saved]) return saved;
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  for (const l of prefs) {
    if (/^zh\b/i.test(l)) return 'zh-CN';
    if (/^en\b/i.test(l)) return 'en';
  }
  return 'en';
}

export function setLang(lang) {
  if (!messages[lang]) return;
  try { localStorage.setItem(KEY, lang); } catch (e) { /* storage off */ }
  applyLang(lang);
}

export function applyLang(lang) {
  document.documentElement.lang = lang;
  set({ lang });
  document.title = t('app.title');
}

// t looks key up in the current language (English as the fallback) and
// fills {name} placeholders; "{n, plural, one {…} other {…}}" picks the
// form with Intl.PluralRules, # standing for the number.
export function t(key, vars) {
  const lang = state.lang;
  let s = (messages[lang] && messages[lang][key]) || en[key] || key;
  if (!vars) return s;
  s = s.replace(/\{(\w+), plural, ((?:\w+ \{[^}]*\}\s*)+)\}/g, (_, v, forms) => {
    const n = Number(vars[v]);
    const cat = new Intl.PluralRules(lang).select(n);
    const m = {};
    forms.replace(/(\w+) \{([^}]*)\}/g, (__, k, f) => { m[k] = f; });
    return (m[cat] !== undefined ? m[cat] : m.other).replace(/#/g, fmtNum(n));
  });
  return s.replace(/\{(\w+)\}/g, (m, v) => (vars[v] !== undefined ? String(vars[v]) : m));
}

export function fmtNum(n) {
  return new Intl.NumberFormat(state.lang).format(Number(n) || 0);
}

// fmtSize is a byte count in the locale's format (kB, MB: powers of 1000).
export function fmtSize(n) {
  n = Number(n) || 0;
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return new Intl.NumberFormat(state.lang, {
    style: 'unit', unit: units[i], unitDisplay: 'short', maximumFractionDigits: i === 0 || n >= 100 ? 0 : 1,
  }).format(n);
}

// fmtDuration is a number of seconds as "42 s", "3 min".
export function fmtDuration(sec) {
  sec = Math.max(0, Math.round(sec));
  const [v, unit] = sec < 90 ? [sec, 'second'] : sec < 5400 ? [Math.round(sec / 60), 'minute'] : [Math.round(sec / 3600), 'hour'];
  return new Intl.NumberFormat(state.lang, { style: 'unit', unit, unitDisplay: 'short' }).format(v);
}

// fmtDate formats the server's "YYYY-MM-DD HH:MM:SS" (its local time).
export function fmtDate(s) {
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)/.exec(s || '');
  if (!m) return s || '';
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return new Intl.DateTimeFormat(state.lang, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}
