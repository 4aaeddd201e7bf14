package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// appenderCluster starts a tracker and a storage and returns the storage,
// a client.conf and a client of it.
func appenderCluster(t *testing.T, trIP, stIP string, trOver map[string]string) (*cluster.Proc, string, *client.Client) {
	tr := cluster.StartTracker(t, trIP, trOver)
	st := cluster.StartStorage(t, stIP, "group1", []*cluster.Proc{tr}, nil)
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	confPath := cluster.ClientConf(t, []*cluster.Proc{tr}, nil)
	cfg, err := conf.LoadClient(confPath)
	require.NoError(t, err)
	c, err := client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return st, confPath, c
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// download fetches id with fdfs_download_file.
func download(t *testing.T, confPath, id string) ([]byte, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dl")
	out, errOut, code := run(t, "fdfs_download_file", confPath, id, p)
	require.Equal(t, 0, code, errOut)
	b, _ := os.ReadFile(p)
	return b, out
}

var appenderIDRe = regexp.MustCompile(`^group1/M00/[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_-]{27}[0-9]{3}\.txt$`)

// TestAppenderAgainstRealDaemons: appender upload, append, modify at an
// offset, truncate and regenerate through the tools and the client against
// real daemons, then fdfs_test's upload with slaves, metadata merge and
// overwrite, download of a slave by its ID and delete.
func TestAppenderAgainstRealDaemons(t *testing.T) {
	st, confPath, c := appenderCluster(t, "127.0.0.6", "127.0.0.7", nil)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}

	out, errOut, code := run(t, "fdfs_upload_appender", confPath, write("hello.txt", "hello yunpan\n"))
	require.Equal(t, 0, code, errOut)
	id := strings.TrimSuffix(out, "\n")
	require.Regexp(t, appenderIDRe, id)
	require.Equal(t, id+"\n", out)

	out, errOut, code = run(t, "fdfs_append_file", confPath, id, write("tail.txt", "appended part\n"))
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out+errOut)
	got, _ := download(t, confPath, id)
	require.Equal(t, "hello yunpan\nappended part\n", string(got))

	require.NoError(t, c.ModifyBuffer(tctx(t), id, 6, []byte("YUNPAN")))
	require.NoError(t, c.TruncateFile(tctx(t), id, 20))
	got, _ = download(t, confPath, id)
	require.Equal(t, "hello YUNPAN\nappende", string(got))
	err := c.ModifyBuffer(tctx(t), id, 21, []byte("x"))
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err), "modify beyond the end")

	out, _, code = run(t, "fdfs_file_info", confPath, id)
	require.Equal(t, 0, code)
	require.Contains(t, out, "GET FROM SERVER: true\n\nfile type: appender\n")
	require.Contains(t, out, "file size: 20\n")

	out, errOut, code = run(t, "fdfs_regenerate_filename", confPath, id)
	require.Equal(t, 0, code, errOut)
	nu := strings.TrimSuffix(out, "\n")
	require.Regexp(t, appenderIDRe, nu)
	require.Equal(t, id[:len("group1/M00/00/00/")], nu[:len("group1/M00/00/00/")], "same HH/HH")
	_, out = download(t, confPath, id)
	require.Equal(t, "download file fail, error no: 2, error info: No such file or directory\n", out)
	got, _ = download(t, confPath, nu)
	require.Equal(t, "hello YUNPAN\nappende", string(got))
	out, _, _ = run(t, "fdfs_file_info", confPath, nu)
	require.Contains(t, out, "GET FROM SERVER: false\n\nfile type: normal\n")
	require.Contains(t, out, "source ip address: "+st.IP+"\n")
	require.Contains(t, out, "file size: 20\n")
	_, errOut, code = run(t, "fdfs_append_file", confPath, nu, filepath.Join(dir, "tail.txt"))
	require.Equal(t, 22, code, "a regenerated file is no appender: %s", errOut)

	// fdfs_test upload in its three modes: master and slave, with metadata.
	slaveTxt := write("slave.txt", strings.Repeat("x", 300))
	masters := map[string]string{}
	for mode, prefix := range map[string]string{"FILE": "_big", "BUFF": "1024x1024", "CALLBACK": "-small"} {
		out, errOut, code = run(t, "fdfs_test", confPath, "upload", slaveTxt, mode)
		require.Equal(t, 0, code, out+errOut)
		names := regexp.MustCompile(`(?m)^group_name=group1, remote_filename=(\S+)$`).FindAllStringSubmatch(out, -1)
		require.Len(t, names, 2, out)
		master, slave := names[0][1], names[1][1]
		masters[mode] = master
		require.Equal(t, strings.TrimSuffix(master, ".txt")+prefix+".txt", slave)
		require.NotContains(t, out, "generated slave file")
		require.Contains(t, out, "example file url: http://"+st.IP+"/group1/"+slave+"\n")
		got, _ = download(t, confPath, "group1/"+slave)
		require.Equal(t, strings.Repeat("x", 300), string(got), mode)
		out, _, _ = run(t, "fdfs_file_info", confPath, "group1/"+slave)
		require.Contains(t, out, "GET FROM SERVER: true\n\nfile type: slave\n")
	}

	// Metadata through fdfs_test: merge keeps the others, overwrite replaces.
	remote := masters["FILE"]
	storageLine := "storage=" + st.IP + ":" + strconv.Itoa(st.Port) + "\n"
	out, _, code = run(t, "fdfs_test", confPath, "getmeta", "group1", remote)
	require.Equal(t, 0, code)
	require.Contains(t, out, storageLine+"get meta data success, meta count=4\next_name=jpg\nfile_size=115120\nheight=80\nwidth=160\n")
	out, _, _ = run(t, "fdfs_test", confPath, "setmeta", "group1", remote, "M", "width=1024,color=red")
	require.Contains(t, out, storageLine+"set meta data success\n")
	out, _, _ = run(t, "fdfs_test", confPath, "getmeta", "group1", remote)
	require.Contains(t, out, "meta count=5\ncolor=red\next_name=jpg\nfile_size=115120\nheight=80\nwidth=1024\n")
	out, _, _ = run(t, "fdfs_test", confPath, "setmeta", "group1", remote, "O", "a=1")
	require.Contains(t, out, "set meta data success\n")
	out, _, _ = run(t, "fdfs_test", confPath, "getmeta", "group1", remote)
	require.Contains(t, out, "meta count=1\na=1\n")

	out, _, code = run(t, "fdfs_test", confPath, "query_servers", "group1", remote)
	require.Equal(t, 0, code)
	require.Contains(t, out, "server list (1):\n\t"+st.IP+":"+strconv.Itoa(st.Port)+"\n\n")

	local := filepath.Join(t.TempDir(), "m.txt")
	out, _, _ = run(t, "fdfs_test", confPath, "download", "group1", remote, local)
	require.Contains(t, out, "download file success, file size=300, file save to "+local+"\n")
	out, _, _ = run(t, "fdfs_test", confPath, "delete", "group1", remote)
	require.Contains(t, out, "delete file success\n")
	out, _, _ = run(t, "fdfs_test", confPath, "delete", "group1", remote)
	require.Contains(t, out, "delete file fail, error no: 2, error info: No such file or directory\n")
}

// TestSlaveLinkedAgainstRealDaemons: with store_slave_file_use_link on the
// tracker, a slave is a link to a data file of its own; both read the same
// and deleting the slave removes both.
func TestSlaveLinkedAgainstRealDaemons(t *testing.T) {
	st, confPath, c := appenderCluster(t, "127.0.0.8", "127.0.0.9", map[string]string{"store_slave_file_use_link": "true"})
	master, err := c.UploadBuffer(tctx(t), []byte("the master file"), "jpg")
	require.NoError(t, err)
	// The storage learns the parameter with its tracker session: retry
	// until the slave comes out as a link.
	var slave string
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		slave, err = c.UploadSlaveBuffer(tctx(t), master, "_t"+strconv.Itoa(i), "jpg", []byte("thumbnail"))
		require.NoError(t, err)
		_, remote, _ := fileid.Split(slave)
		fi, err := os.Lstat(filepath.Join(st.Base, "data", remote[4:]))
		require.NoError(t, err)
		if fi.Mode()&os.ModeSymlink != 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "slaves never became links")
		time.Sleep(200 * time.Millisecond)
	}
	got, _ := download(t, confPath, slave)
	require.Equal(t, "thumbnail", string(got))
	_, err = c.UploadSlaveBuffer(tctx(t), master, slave[len(master)-4:len(slave)-4], "jpg", []byte("again"))
	require.Equal(t, proto.StatusEEXIST, proto.StatusOf(err), "%v", err)
	out, errOut, code := run(t, "fdfs_delete_file", confPath, slave)
	require.Equal(t, 0, code, out+errOut)
	_, out = download(t, confPath, slave)
	require.Contains(t, out, "error no: 2")
	got, _ = download(t, confPath, master)
	require.Equal(t, "the master file", string(got))
}

// TestResumableUploadKilled: fdfs_upload_file with the resumable upload is
// killed with SIGKILL once about a third is stored, then run again: it
// continues where the storage stands and the result is byte-identical.
func TestResumableUploadKilled(t *testing.T) {
	st, confPath, c := appenderCluster(t, "127.0.0.10", "127.0.0.11", nil)
	data := make([]byte, 24<<20+4321)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, os.WriteFile(src, data, 0o644))
	statePath, err := client.StatePath(src, "")
	require.NoError(t, err)

	// First run, slowed down so it can be caught midway.
	cmd := exec.Command(filepath.Join(cluster.Bin(t), "fdfs_upload_file"), confPath, src)
	cmd.Env = append(os.Environ(), "FDFS_RESUMABLE=min=1M,part=512K,rate=6M")
	logPath := filepath.Join(t.TempDir(), "first-run.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	firstRun := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var appender string
	var stored int64
	deadline := time.Now().Add(30 * time.Second)
	for stored < int64(len(data))*3/10 {
		require.True(t, time.Now().Before(deadline), "upload never got to 30%%: %s", firstRun())
		select {
		case err := <-exited:
			t.Fatalf("upload finished before it could be killed (%v): %s", err, firstRun())
		case <-time.After(20 * time.Millisecond):
		}
		if appender == "" {
			if b, err := os.ReadFile(statePath); err == nil {
				appender = regexp.MustCompile(`"appender":"([^"]+)"`).FindStringSubmatch(string(b))[1]
			}
			continue
		}
		fi, err := c.QueryFileInfo(tctx(t), appender, client.FileInfoNoCRC)
		require.NoError(t, err)
		stored = fi.Size
	}
	require.NoError(t, cmd.Process.Kill())
	<-exited
	require.Less(t, stored, int64(len(data)), "killed midway")
	require.FileExists(t, statePath)

	// Second run: resumes, prints one line.
	cmd = exec.Command(filepath.Join(cluster.Bin(t), "fdfs_upload_file"), confPath, src)
	cmd.Env = append(os.Environ(), "FDFS_RESUMABLE=min=1M,part=512K")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	require.Empty(t, stderr.String())
	id := strings.TrimSuffix(stdout.String(), "\n")
	require.Equal(t, id+"\n", stdout.String())
	_, remote, err := fileid.Split(id)
	require.NoError(t, err)
	_, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindNormal, kind, "an ordinary file ID")
	require.NoFileExists(t, statePath)
	got, _ := download(t, confPath, id)
	require.True(t, bytes.Equal(data, got), "downloaded file differs")

	// The binlog shows one appender file filled part after part (MODIFY
	// at the end) without gaps, and about each byte once: the second run
	// continued instead of starting over.
	_, appRemote, _ := fileid.Split(appender)
	var next, written int64
	creates := 0
	waitBinlog(t, st, func(line string) {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == "C" {
			creates++
		}
		if len(f) == 5 && f[1] == "M" {
			require.Equal(t, appRemote, f[2])
			off, _ := strconv.ParseInt(f[3], 10, 64)
			n, _ := strconv.ParseInt(f[4], 10, 64)
			require.LessOrEqual(t, off, next, "no gap")
			next = max(next, off+n)
			written += n
		}
	}, " R "+remote+" "+appRemote)
	require.Equal(t, 1, creates, "one appender file")
	require.Equal(t, int64(len(data)), next)
	require.Less(t, written, int64(len(data))+2*512<<10, "nothing much sent twice")
}

// waitBinlog waits until the storage's binlog holds a line containing
// until, then calls fn for every line.
func waitBinlog(t *testing.T, st *cluster.Proc, fn func(string), until string) {
	t.Helper()
	p := filepath.Join(st.Base, "data", "sync", "binlog.000")
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), until) {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				fn(sc.Text())
			}
			return
		}
		require.True(t, time.Now().Before(deadline), "binlog never showed %q", until)
		time.Sleep(50 * time.Millisecond)
	}
}
