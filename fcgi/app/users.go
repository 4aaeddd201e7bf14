package app

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"yunpan/store"
)

var (
	// The course client's user-name rule, with its accidental "#-*" range
	// narrowed to the characters it meant.
	userRE  = regexp.MustCompile(`^[A-Za-z0-9_@#*.\-]{3,32}$`)
	phoneRE = regexp.MustCompile(`^[0-9+\- ]{0,16}$`)
)

// handleReg is /reg: {userName, nickName, firstPwd, phone, email} →
// 002 | 003 (409; also a name that differs only in case from a taken one)
// | 004.
func (a *App) handleReg(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeRegFail, http.MethodPost) {
		return
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, CodeRegFail)
		return
	}
	nick := strings.TrimSpace(q.NickName)
	switch {
	case !userRE.MatchString(q.UserName):
		a.fail(w, http.StatusBadRequest, CodeRegFail, "user name: 3 to 32 of A-Z a-z 0-9 _ @ # * . -")
		return
	case q.FirstPwd == "" || len(q.FirstPwd) > 72:
		a.fail(w, http.StatusBadRequest, CodeRegFail, "password: 1 to 72 bytes")
		return
	case len(nick) > 128 || nick != "" && (!store.ValidFileName(nick) || store.CheckNewName(nick) != nil):
		a.fail(w, http.StatusBadRequest, CodeRegFail, "nickname: at most 128 bytes, no '/', control, bidi-override or zero-width characters")
		return
	case !phoneRE.MatchString(q.Phone):
		a.fail(w, http.StatusBadRequest, CodeRegFail, "phone: at most 16 digits")
		return
	case len(q.Email) > 64 || q.Email != "" && !strings.Contains(q.Email, "@"):
		a.fail(w, http.StatusBadRequest, CodeRegFail, "email: invalid")
		return
	}
	err := a.st.Register(r.Context(), store.NewUser{Name: q.UserName, Nick: nick, Password: q.FirstPwd, Phone: q.Phone, Email: q.Email})
	switch {
	case err == nil:
		a.ok(w, CodeRegOK, nil)
	case errors.Is(err, store.ErrExists):
		a.fail(w, http.StatusConflict, CodeRegExists, "user name (in any upper or lower case) or nickname already taken")
	default:
		a.failErr(w, r, err, CodeRegFail)
	}
}

// handleLogin is /login {user, pwd} → {"code":"000","token":…} and, on
// /logout or /login?cmd=logout, revokes the token.
func (a *App) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/logout" || strings.HasSuffix(r.URL.Path, "/logout") || r.URL.Query().Get("cmd") == "logout" {
		a.handleLogout(w, r)
		return
	}
	if !a.method(w, r, CodeLoginFail, http.MethodPost) {
		return
	}
	if cmd := r.URL.Query().Get("cmd"); cmd != "" && cmd != "login" {
		a.fail(w, http.StatusBadRequest, CodeLoginFail, "unknown cmd")
		return
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, CodeLoginFail)
		return
	}
	if !userRE.MatchString(q.User) || q.Pwd == "" || len(q.Pwd) > 72 {
		a.reply(w, http.StatusUnauthorized, map[string]any{"code": CodeLoginFail, "token": "fail", "msg": "wrong user name or password"})
		return
	}
	tok, err := a.st.LoginFrom(r.Context(), q.User, q.Pwd, clientAddr(r))
	switch {
	case err == nil:
		a.setSession(w, q.User, tok, int(a.cfg.TokenTTL/time.Second))
		a.ok(w, CodeLoginOK, map[string]any{"token": tok})
	case errors.Is(err, store.ErrBadCredentials):
		a.reply(w, http.StatusUnauthorized, map[string]any{"code": CodeLoginFail, "token": "fail", "msg": "wrong user name or password"})
	default:
		a.failErr(w, r, err, CodeLoginFail)
	}
}

// setSession mirrors the token in cookies for the browser pages (HttpOnly,
// SameSite=Strict: a cross-site page cannot ride on them).
func (a *App) setSession(w http.ResponseWriter, user, tok string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: "token", Value: tok, Path: "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: "user", Value: user, Path: "/", MaxAge: maxAge, SameSite: http.SameSiteStrictMode})
}

// handleLogout is /logout {user, token} → 023 | 111 | 024. The token is
// revoked in MySQL, so logout works while Redis is down.
func (a *App) handleLogout(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeLogoutFail, http.MethodPost) {
		return
	}
	var q req
	if err := readJSON(w, r, &q, true); err != nil {
		a.failErr(w, r, err, CodeLogoutFail)
		return
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, CodeLogoutFail)
		return
	}
	if err := a.st.Logout(r.Context(), user, tokenFrom(r, q.Token)); err != nil {
		a.failErr(w, r, err, CodeLogoutFail)
		return
	}
	a.setSession(w, "", "", -1)
	a.ok(w, CodeLogoutOK, nil)
}
