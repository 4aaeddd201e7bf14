package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"
)

// TestBrowserFolders: my files as folders in Chromium, on one stack with a
// small quota: uploads, nested folders, moves by the dialog and by drag and
// drop (onto a folder row and onto a breadcrumb), a folder refused into
// itself, rename, breadcrumbs, back and reload, search with each match's
// folder, select-all and delete, the trash (restore one and several, delete
// for good, empty), the quota bar and an upload the quota refuses; then the
// same pages on a phone and in Chinese, with axe on each.
func TestBrowserFolders(t *testing.T) {
	const quota = 200000
	s := StartStack(t, Options{Cfg: map[string]any{"quota_bytes": quota}})
	w := newWeb(t, s)
	ctx := newBrowserSized(t, 1280, 800)
	art := artifacts(t)
	shot := func(name string) { screenshot(t, ctx, art, "folders-"+name+".png") }
	defer func() {
		if t.Failed() {
			screenshot(t, ctx, art, "folders-failed.png")
			t.Logf("stack logs:\n%s", tail(s.Logs(), 6000))
		}
	}()
	const pwd = "folder-pass"
	a := w.register("fo_"+suffix(), pwd)
	logIn(t, ctx, s.URL, a.name, pwd)
	step(t, ctx, "empty list", 20*time.Second, chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")))

	row := func(name string) string { return `#myfiles-table tr[data-name=` + jsString(name) + `]` }
	has := func(name string) string { return `!!document.querySelector(` + jsString(row(name)) + `)` }
	text := func(sel string) string {
		return eval[string](t, ctx, `(e => e ? e.textContent : '')(document.querySelector(`+jsString(sel)+`))`)
	}
	usage := func() [3]int {
		v := eval[[]string](t, ctx, `(q => q ? [q.dataset.used, q.dataset.quota, q.dataset.trash] : [])(document.getElementById('quota'))`)
		require.Len(t, v, 3, "the quota bar shows")
		var out [3]int
		for i := range v {
			out[i], _ = strconv.Atoi(v[i])
		}
		return out
	}
	quotaIs := func(used, trash int) chromedp.Action[chromedp.Void] {
		return until(fmt.Sprintf(`(q => !!q && q.dataset.used === '%d' && q.dataset.trash === '%d')(document.getElementById('quota'))`, used, trash))
	}

	// Three files dropped on the page: the quota bar counts them.
	fa, fb, fc := dropFile{"alpha.txt", 1000, 1}, dropFile{"beta.txt", 2000, 2}, dropFile{"gamma.txt", 3000, 3}
	drop(t, ctx, fa, fb, fc)
	step(t, ctx, "uploaded", 60*time.Second,
		phaseIs(fa.Name, "done"), phaseIs(fb.Name, "done"), phaseIs(fc.Name, "done"),
		until(has(fa.Name)+` && `+has(fb.Name)+` && `+has(fc.Name)), quotaIs(6000, 0))
	require.Equal(t, [3]int{6000, quota, 0}, usage())
	require.Equal(t, "6000", eval[string](t, ctx, `String(document.getElementById('quota-bar').value)`))
	require.Equal(t, "quota-text", eval[string](t, ctx, `document.getElementById('quota-bar').getAttribute('aria-labelledby')`))
	require.Contains(t, text("#quota-text"), "6 kB of 200 kB used")

	// New folder: Enter makes it; a taken name says so; Escape cancels.
	mkdir := func(name string) {
		step(t, ctx, "new folder "+name, 20*time.Second,
			chromedp.Click(chromedp.CSS("#mkdir-btn")),
			until(`document.activeElement.id === 'mkdir-name'`),
			chromedp.SendKeys(chromedp.CSS("#mkdir-name"), name+kb.Enter),
			until(`!document.getElementById('mkdir-name') && `+has(name)),
			until(`document.activeElement.closest('tr') && document.activeElement.closest('tr').dataset.name === `+jsString(name)))
	}
	mkdir("Docs")
	require.Equal(t, "folder", eval[string](t, ctx, `document.querySelector('#myfiles-table tbody tr').dataset.kind`), "folders first")
	step(t, ctx, "a taken name", 20*time.Second,
		chromedp.Click(chromedp.CSS("#mkdir-btn")),
		chromedp.SendKeys(chromedp.CSS("#mkdir-name"), "Docs"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(".name-err")))
	require.Contains(t, text(".name-err"), "already holds something named “Docs”")
	require.Equal(t, "true", eval[string](t, ctx, `document.getElementById('mkdir-name').getAttribute('aria-invalid')`))
	step(t, ctx, "Escape cancels", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#mkdir-name"), kb.Escape),
		until(`!document.getElementById('mkdir-name') && document.activeElement.id === 'mkdir-btn'`))
	docs := eval[string](t, ctx, `document.querySelector(`+jsString(row("Docs"))+`).dataset.id`)

	// Into Docs (the URL follows), a folder inside it, back by breadcrumb.
	step(t, ctx, "open Docs", 20*time.Second,
		chromedp.Click(chromedp.CSS(row("Docs")+" a.open-folder")),
		until(`location.hash === '#/files?folder=`+docs+`'`),
		chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")),
		until(`document.querySelector('#crumbs [aria-current]').textContent === 'Docs'`),
		until(`document.activeElement.matches('#crumbs [aria-current]')`))
	require.Contains(t, text("#myfiles-empty"), "This folder is empty")
	mkdir("Inner")
	step(t, ctx, "breadcrumb to the root", 20*time.Second,
		chromedp.Click(chromedp.CSS(`#crumbs a.crumb[data-id="0"]`)),
		until(`location.hash === '#/files'`),
		until(has(fa.Name)))

	// Move by the dialog: walk into Docs, move there.
	press(t, ctx, row(fa.Name), "button.act-move")
	step(t, ctx, "move dialog", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#move-dialog .pick-folder[data-name="Docs"]`)),
		chromedp.Click(chromedp.CSS(`#move-dialog .pick-folder[data-name="Docs"]`)),
		until(`document.querySelector('#move-dialog [aria-current]').textContent === 'Docs'`),
		chromedp.WaitVisible(chromedp.CSS(`#move-dialog .pick-folder[data-name="Inner"]`)))
	require.True(t, eval[bool](t, ctx, `document.getElementById('move-dialog').open && document.getElementById('move-dialog').contains(document.activeElement)`),
		"the focus is in the dialog")
	axeCheck(t, ctx, "the move dialog")
	shot("move-dialog")
	step(t, ctx, "move here", 20*time.Second,
		chromedp.Click(chromedp.CSS("#move-here")),
		chromedp.WaitNotPresent(chromedp.CSS("#move-dialog")),
		until(`!`+has(fa.Name)),
		until(`document.getElementById('myfiles-msg').textContent === 'Moved alpha.txt to My files / Docs.'`))

	// A folder into itself: the server's refusal shows in the dialog.
	press(t, ctx, row("Docs"), "button.act-move")
	step(t, ctx, "Docs into itself", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#move-dialog .pick-folder[data-name="Docs"]`)),
		chromedp.Click(chromedp.CSS(`#move-dialog .pick-folder[data-name="Docs"]`)),
		until(`document.querySelector('#move-dialog [aria-current]').textContent === 'Docs'`),
		chromedp.Click(chromedp.CSS("#move-here")),
		until(`document.getElementById('move-msg').classList.contains('err')`))
	require.Contains(t, text("#move-msg"), "cannot move into itself")
	step(t, ctx, "Escape closes the dialog", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#move-here"), kb.Escape),
		chromedp.WaitNotPresent(chromedp.CSS("#move-dialog")),
		until(`document.activeElement.closest('tr') && document.activeElement.closest('tr').dataset.name === 'Docs'`))

	// Drag beta.txt onto the Docs row.
	dragTo := func(src, dst string) {
		require.True(t, eval[bool](t, ctx, `((srcSel, dstSel) => {
			const src = document.querySelector(srcSel), dst = document.querySelector(dstSel);
			if (!src || !dst) return false;
			const dt = new DataTransfer();
			const o = { dataTransfer: dt, bubbles: true, cancelable: true };
			src.dispatchEvent(new DragEvent('dragstart', o));
			dst.dispatchEvent(new DragEvent('dragenter', o));
			const over = new DragEvent('dragover', o);
			dst.dispatchEvent(over);
			const drop = new DragEvent('drop', o);
			dst.dispatchEvent(drop);
			src.dispatchEvent(new DragEvent('dragend', o));
			return over.defaultPrevented && drop.defaultPrevented;
		})(`+jsString(src)+`, `+jsString(dst)+`)`), "%s took the drop of %s", dst, src)
	}
	dragTo(row(fb.Name), row("Docs")+" td.name")
	step(t, ctx, "dragged into Docs", 20*time.Second,
		until(`!`+has(fb.Name)),
		until(`document.getElementById('myfiles-msg').textContent === 'Moved beta.txt to My files / Docs.'`))

	// Rename inline: Enter saves.
	press(t, ctx, row(fc.Name), "button.act-rename")
	step(t, ctx, "rename", 20*time.Second,
		until(`document.activeElement.classList.contains('name-input')`),
		chromedp.SetValue(chromedp.CSS(".name-input"), "gamma renamed.txt"),
		chromedp.SendKeys(chromedp.CSS(".name-input"), kb.Enter),
		until(has("gamma renamed.txt")+` && !`+has(fc.Name)))
	require.Equal(t, "gamma renamed.txt", focusedRow(t, ctx), "the focus stays on the renamed row")

	// In Docs: Inner first, then the files; a file dragged onto the root
	// breadcrumb goes back up. Back and reload keep the folder.
	step(t, ctx, "open Docs again", 20*time.Second,
		chromedp.Click(chromedp.CSS(row("Docs")+" a.open-folder")),
		until(has("Inner")+` && `+has(fa.Name)+` && `+has(fb.Name)))
	require.Equal(t, []string{"Inner", fa.Name, fb.Name},
		eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#myfiles-table tbody tr')).map(r => r.dataset.name)`))
	step(t, ctx, "sort by size, largest first", 20*time.Second,
		chromedp.SetValue(chromedp.CSS("#sort"), "size-desc"),
		until(`(document.getElementById('sort').dispatchEvent(new Event('change')), true)`),
		until(`location.hash === '#/files?folder=`+docs+`&sort=size-desc'`),
		until(`Array.from(document.querySelectorAll('#myfiles-table tbody tr')).map(r => r.dataset.name).join() === 'Inner,beta.txt,alpha.txt'`))
	axeCheck(t, ctx, "a folder")
	shot("folder")
	dragTo(row(fa.Name), `#crumbs a.crumb[data-id="0"]`)
	step(t, ctx, "dragged onto the root breadcrumb", 20*time.Second,
		until(`!`+has(fa.Name)),
		until(`document.getElementById('myfiles-msg').textContent === 'Moved alpha.txt to My files.'`))
	step(t, ctx, "back to the root and forward", 30*time.Second,
		chromedp.NavigateBack(), chromedp.NavigateBack(),
		until(`location.hash === '#/files'`), until(has("Docs")+` && `+has(fa.Name)),
		chromedp.NavigateForward(),
		until(`location.hash === '#/files?folder=`+docs+`'`), until(has("Inner")),
		chromedp.Reload(),
		until(`!!document.querySelector('#crumbs [aria-current]') && document.querySelector('#crumbs [aria-current]').textContent === 'Docs'`),
		until(has(fb.Name)))

	// Search from anywhere: each match with its folder, which opens.
	step(t, ctx, "search", 20*time.Second,
		chromedp.SendKeys(chromedp.CSS("#search"), "e"+kb.Enter),
		until(`location.hash === '#/files?folder=`+docs+`&q=e'`),
		until(has(fb.Name)+` && `+has("gamma renamed.txt")+` && `+has("Inner")))
	require.Equal(t, []string{"Inner", fb.Name, "gamma renamed.txt"},
		eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#myfiles-table tbody tr')).map(r => r.dataset.name)`), "folders first, then by name")
	require.Equal(t, "in My files / Docs", text(row(fb.Name)+" .place"))
	require.Equal(t, "in My files", text(row("gamma renamed.txt")+" .place"))
	axeCheck(t, ctx, "search results")
	shot("search")
	step(t, ctx, "open a match's folder", 20*time.Second,
		chromedp.Click(chromedp.CSS(row(fb.Name)+" a.place-link")),
		// The search results hold both names too: wait for the folder's
		// own rows (not the root's gamma), or a click lands on the results.
		until(`location.hash === '#/files?folder=`+docs+`'`), until(has(fb.Name)+` && `+has("Inner")+` && !`+has("gamma renamed.txt")))

	// Select all on the page, delete: to the trash, still counted.
	step(t, ctx, "select all", 20*time.Second,
		chromedp.Click(chromedp.CSS("#sel-all")),
		until(`document.getElementById('sel-count').textContent === '2 selected'`),
		until(`!document.getElementById('selbar').hidden`))
	require.Equal(t, 2, eval[int](t, ctx, `document.querySelectorAll('#myfiles-table input.row-sel:checked').length`))
	require.Equal(t, "Select beta.txt", eval[string](t, ctx, `document.querySelector(`+jsString(row(fb.Name)+" input.row-sel")+`).getAttribute('aria-label')`))
	// Space on a row's checkbox takes it out of the selection.
	step(t, ctx, "Space toggles", 10*time.Second,
		chromedp.Focus(chromedp.CSS(row(fb.Name)+" input.row-sel")),
		chromedp.KeyEvent(" "),
		until(`document.getElementById('sel-count').textContent === '1 selected'`),
		chromedp.KeyEvent(" "),
		until(`document.getElementById('sel-count').textContent === '2 selected'`))
	axeCheck(t, ctx, "the selection bar")
	shot("selected")
	step(t, ctx, "delete the selection", 20*time.Second,
		chromedp.Click(chromedp.CSS("#sel-del")),
		until(`document.getElementById('sel-del').dataset.armed === '1'`),
		chromedp.Click(chromedp.CSS("#sel-del")),
		chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")),
		until(`document.getElementById('myfiles-msg').textContent === 'Moved 2 items to the trash.'`),
		quotaIs(6000, 2000))
	require.Contains(t, text("#quota-trash"), "2 kB in the trash")

	// The trash: where each was, when it goes; restore one, then the rest.
	step(t, ctx, "trash", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-trash")),
		until(`location.hash === '#/trash'`),
		chromedp.WaitVisible(chromedp.CSS(`#trash-table tr[data-name="Inner"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#trash-table tr[data-name="beta.txt"]`)))
	trow := func(name string) string { return `#trash-table tr[data-name=` + jsString(name) + `]` }
	require.Equal(t, "My files / Docs", text(trow(fb.Name)+" td.place"))
	require.Regexp(t, `^in \d+ days?$`, text(trow(fb.Name)+" td.expires"))
	require.Equal(t, "2 kB", text(trow(fb.Name)+" td.size"))
	axeCheck(t, ctx, "the trash")
	shot("trash")
	press(t, ctx, trow(fb.Name), "button.act-restore")
	step(t, ctx, "restore one", 20*time.Second,
		until(`document.getElementById('trash-msg').textContent === 'Restored beta.txt to My files / Docs.'`),
		chromedp.WaitNotPresent(chromedp.CSS(trow(fb.Name))))
	step(t, ctx, "restore the rest (select all)", 20*time.Second,
		chromedp.Click(chromedp.CSS("#trash-sel-all")),
		chromedp.Click(chromedp.CSS("#trash-sel-restore")),
		until(`document.getElementById('trash-msg').textContent === 'Restored Inner to My files / Docs.'`),
		chromedp.WaitVisible(chromedp.CSS("#trash-empty-state")))

	// Delete for good: one file, then the trash emptied; the quota drops.
	step(t, ctx, "two more to the trash", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-myfiles")),
		until(has(fa.Name)+` && `+has("gamma renamed.txt")))
	press(t, ctx, row("gamma renamed.txt"), "button.act-del")
	press(t, ctx, row("gamma renamed.txt"), "button.act-del")
	step(t, ctx, "gamma trashed", 20*time.Second, until(`!`+has("gamma renamed.txt")))
	press(t, ctx, row(fa.Name), "button.act-del")
	press(t, ctx, row(fa.Name), "button.act-del")
	step(t, ctx, "alpha trashed", 20*time.Second, until(`!`+has(fa.Name)), quotaIs(6000, 4000))
	step(t, ctx, "trash again", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-trash")),
		chromedp.WaitVisible(chromedp.CSS(trow("gamma renamed.txt"))))
	press(t, ctx, trow("gamma renamed.txt"), "button.act-purge")
	require.Equal(t, "1", eval[string](t, ctx, `document.querySelector(`+jsString(trow("gamma renamed.txt")+" button.act-purge")+`).dataset.armed`))
	press(t, ctx, trow("gamma renamed.txt"), "button.act-purge")
	step(t, ctx, "purged", 20*time.Second,
		chromedp.WaitNotPresent(chromedp.CSS(trow("gamma renamed.txt"))),
		until(`document.getElementById('trash-msg').textContent === 'Deleted 1 item for good.'`),
		quotaIs(3000, 1000))
	step(t, ctx, "empty the trash", 20*time.Second,
		chromedp.Click(chromedp.CSS("#trash-empty")),
		until(`document.getElementById('trash-empty').dataset.armed === '1'`),
		chromedp.Click(chromedp.CSS("#trash-empty")),
		chromedp.WaitVisible(chromedp.CSS("#trash-empty-state")),
		quotaIs(2000, 0))

	// An upload the quota cannot take says so.
	step(t, ctx, "my files", 20*time.Second, chromedp.Click(chromedp.CSS("#nav-myfiles")), until(has("Docs")))
	big := dropFile{"too big.bin", quota, 4}
	drop(t, ctx, big)
	step(t, ctx, "refused for the quota", 60*time.Second, phaseIs(big.Name, "failed"))
	require.Contains(t, text(itemSel(big.Name)+" .up-error"), "does not fit in your storage quota")

	// A phone: cards, row menus, 44 px targets, the move dialog from a menu.
	step(t, ctx, "phone", 10*time.Second, chromedp.EmulateViewport(390, 844))
	step(t, ctx, "open Docs on the phone", 20*time.Second,
		chromedp.Click(chromedp.CSS(row("Docs")+" a.open-folder")),
		until(has(fb.Name)+` && `+has("Inner")))
	checkLayout(t, ctx, 390, "a folder on a phone")
	axeCheck(t, ctx, "a folder on a phone")
	shot("phone-folder")
	press(t, ctx, row(fb.Name), "button.act-move")
	step(t, ctx, "move up on the phone", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`#move-dialog .pick-up[data-id="0"]`)),
		chromedp.Click(chromedp.CSS(`#move-dialog .pick-up[data-id="0"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#move-dialog .pick-folder[data-name="Docs"]`)))
	checkLayout(t, ctx, 390, "the move dialog on a phone")
	shot("phone-move")
	step(t, ctx, "moved on the phone", 20*time.Second,
		chromedp.Click(chromedp.CSS("#move-here")),
		until(`!`+has(fb.Name)))

	// Chinese, on the phone: the trash and the quota in its words.
	setLang(t, ctx, "zh-CN")
	require.Equal(t, "回收站", text("#nav-trash"))
	require.Contains(t, text("#quota-text"), "已用")
	require.Equal(t, "新建文件夹", text("#mkdir-btn"))
	require.Equal(t, "我的文件", text(`#crumbs a.crumb[data-id="0"]`))
	checkLayout(t, ctx, 390, "a folder in Chinese")
	axeCheck(t, ctx, "a folder in Chinese")
	shot("phone-zh")
	step(t, ctx, "trash in Chinese", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-trash")),
		chromedp.WaitVisible(chromedp.CSS("#trash-empty-state")))
	require.Equal(t, "回收站是空的。", text("#trash-empty-state"))
	checkLayout(t, ctx, 390, "the trash in Chinese")

	// Ten more folders (made through the API): two pages, next and back.
	tok := w.login(a)
	for i := 1; i <= 10; i++ {
		w.check(w.post("/files?cmd=mkdir", tok.body("name", fmt.Sprintf("p%02d", i))), "032", "mkdir p%02d", i)
	}
	step(t, ctx, "the root, two pages", 20*time.Second,
		chromedp.Click(chromedp.CSS("#nav-myfiles")),
		until(has("p09")),
		until(`!document.getElementById('page-next').disabled && document.getElementById('page-prev').disabled`))
	require.Equal(t, 10, eval[int](t, ctx, `document.querySelectorAll('#myfiles-table tbody tr').length`))
	step(t, ctx, "next page", 20*time.Second,
		chromedp.Click(chromedp.CSS("#page-next")),
		until(`location.hash === '#/files?page=2'`),
		until(has("p10")+` && `+has(fb.Name)),
		until(`document.getElementById('page-next').disabled`))
	require.Equal(t, "第 2 页", text("#page-info"))
	checkLayout(t, ctx, 390, "the second page")
}
