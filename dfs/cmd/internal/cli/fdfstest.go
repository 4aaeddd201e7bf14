package cli

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// fdfs_test (docs/protocol.md §9.9): a walk through the client API that prints what it
// does. Every line goes to stdout, like the C tool.

// FdfsTestBanner starts every run.
const FdfsTestBanner = "This is FastDFS client test program v" + proto.Version + "\n" +
	"\n" +
	"Copyright (C) 2008, Happy Fish / YuQing\n" +
	"\n" +
	"FastDFS may be copied only under the terms of the GNU General\n" +
	"Public License V3, which may be found in the FastDFS source kit.\n" +
	"Please visit the FastDFS Home Page http://www.fastken.com/ \n" +
	"for more detail.\n" +
	"\n"

// FdfsTestUsage is printed (after the banner) without an operation.
const FdfsTestUsage = "Usage: fdfs_test <config_file> <operation>\n" +
	"  operation: upload, download, getmeta, setmeta, delete and query_servers\n"

// fdfsTestMeta is the metadata fdfs_test attaches to what it uploads.
var fdfsTestMeta = []proto.Meta{{Name: "ext_name", Value: "jpg"}, {Name: "width", Value: "160"},
	{Name: "height", Value: "80"}, {Name: "file_size", Value: "115120"}}

// upload modes: how the content is handed over, the name of the C call
// printed, and the slave prefix used.
var fdfsTestModes = map[string]struct{ call, slaveCall, prefix string }{
	"FILE":     {"storage_upload_by_filename", "storage_upload_slave_by_filename", "_big"},
	"BUFF":     {"storage_upload_by_filebuff", "storage_upload_slave_by_filebuff", "1024x1024"},
	"CALLBACK": {"storage_upload_by_callback", "storage_upload_slave_by_callback", "-small"},
}

// fdfsTest is one run.
type fdfsTest struct {
	c   *client.Client
	out io.Writer
	cfg *conf.Client
}

// FdfsTest is fdfs_test.
func FdfsTest(args []string, stdout, stderr io.Writer) int {
	fmt.Fprint(stdout, FdfsTestBanner)
	if len(args) < 2 {
		fmt.Fprint(stdout, FdfsTestUsage)
		return 1
	}
	c, code := Open(args[0], stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	t := &fdfsTest{c: c, out: stdout}
	// The anti-steal settings for the example URLs.
	if cfg, err := conf.LoadClient(args[0]); err == nil {
		t.cfg = cfg
	}
	ctx, cancel := Context()
	defer cancel()
	op, rest := args[1], args[2:]
	switch op {
	case "upload":
		return t.upload(ctx, rest)
	case "download", "getmeta", "setmeta", "delete", "query_servers":
		return t.fileOp(ctx, op, rest)
	}
	fmt.Fprintf(stdout, "invalid operation: %s\n", op)
	return int(proto.StatusEINVAL)
}

// errInfo is "error no: <n>, error info: <strerror>".
func errInfo(err error) string {
	n := Errno(err)
	return fmt.Sprintf("error no: %d, error info: %s", n, proto.StrError(byte(n)))
}

func (t *fdfsTest) fail(what string, err error) int {
	fmt.Fprintln(t.out, FailLine(what, err))
	return Errno(err)
}

// upload: <local_filename> [FILE|BUFF|CALLBACK].
func (t *fdfsTest) upload(ctx context.Context, args []string) int {
	if len(args) < 1 {
		fmt.Fprint(t.out, "Usage: fdfs_test <config_file> upload <local_filename> [FILE | BUFF | CALLBACK]\n")
		return int(proto.StatusEINVAL)
	}
	local, modeName := args[0], "FILE"
	if len(args) >= 2 {
		modeName = args[1]
	}
	mode, ok := fdfsTestModes[modeName]
	if !ok {
		mode = fdfsTestModes["FILE"]
	}
	if all, err := t.c.QueryStoreAll(ctx, ""); err == nil {
		fmt.Fprintf(t.out, "tracker_query_storage_store_list_without_group: \n")
		for i, s := range all.Storages {
			fmt.Fprintf(t.out, "\tserver %d. group_name=, ip_addr=%s, port=%d\n", i+1, s.IP, s.Port)
		}
		fmt.Fprintln(t.out)
	}
	st, err := t.c.QueryStore(ctx, "")
	if err != nil {
		return t.fail("tracker_query_storage", err)
	}
	storage := st.Storages[0]
	fmt.Fprintf(t.out, "group_name=%s, ip_addr=%s, port=%d\n", st.Group, storage.IP, storage.Port)

	content, size, closeContent, err := fdfsTestContent(local, modeName)
	ext := fileid.ExtFromFilename(local)
	var id string
	if err == nil {
		id, err = t.c.UploadWith(ctx, content, size, ext, client.UploadOptions{
			Storage: storage.String(), PathIndex: int(st.PathIndex), Meta: fdfsTestMeta})
		closeContent()
	}
	fmt.Fprintln(t.out, mode.call)
	if err != nil {
		return t.fail("upload file", err)
	}
	t.printStored(ctx, id, storage.IP)

	content, size, closeContent, err = fdfsTestContent(local, modeName)
	var slave string
	if err == nil {
		slave, err = t.c.UploadSlaveWith(ctx, id, mode.prefix, ext, content, size, fdfsTestMeta)
		closeContent()
	}
	fmt.Fprintln(t.out, mode.slaveCall)
	if err != nil {
		return t.fail("upload slave file", err)
	}
	if _, remote, err := fileid.Split(id); err == nil {
		if want, err := fileid.SlaveRemote(remote, mode.prefix, ext); err == nil && fileid.Join(st.Group, want) != slave {
			fmt.Fprintf(t.out, "generated slave file: %s\n != returned slave file: %s\n", fileid.Join(st.Group, want), slave)
		}
	}
	t.printStored(ctx, slave, storage.IP)
	return t.activeTests(ctx, storage.String())
}

// fdfsTestContent opens local the way a mode hands it over: all in memory
// (BUFF) or streamed from the file (FILE, CALLBACK).
func fdfsTestContent(local, mode string) (io.Reader, int64, func(), error) {
	if mode == "BUFF" {
		b, err := os.ReadFile(local)
		return bytes.NewReader(b), int64(len(b)), func() {}, err
	}
	f, size, err := client.OpenLocal(local)
	if err != nil {
		return nil, 0, nil, err
	}
	return f, size, func() { f.Close() }, nil
}

// printStored prints the name, the file info and the example URL of id.
func (t *fdfsTest) printStored(ctx context.Context, id, storageIP string) {
	group, remote, _ := fileid.Split(id)
	fmt.Fprintf(t.out, "group_name=%s, remote_filename=%s\n", group, remote)
	if fi, err := t.c.FileInfo(ctx, id, 0); err == nil {
		fmt.Fprintf(t.out, "source ip address: %s\n", fi.SourceIP)
		fmt.Fprintf(t.out, "file timestamp=%s\n", FormatTime(fi.CreateTime))
		fmt.Fprintf(t.out, "file size=%d\n", fi.Size)
		fmt.Fprintf(t.out, "file crc32=%d\n", fi.CRC32)
	}
	fmt.Fprintf(t.out, "example file url: %s\n", t.exampleURL(storageIP, id, remote))
}

// exampleURL is http://<storage>/<file id> (no port, whatever
// http.tracker_server_port says, as the C tool prints it), with the anti-steal
// token when the config enables it. The token is computed over the remote
// filename (§10: what the nginx module checks; the C tool uses the whole
// file ID, which the module then rejects).
func (t *fdfsTest) exampleURL(ip, id, remote string) string {
	host := ip
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	url := "http://" + host + "/" + id
	if t.cfg != nil && t.cfg.AntiStealCheckToken {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		sum := md5.Sum([]byte(remote + t.cfg.AntiStealSecretKey + ts))
		url += "?token=" + hex.EncodeToString(sum[:]) + "&ts=" + ts
	}
	return url
}

// activeTests ends a run as the C tool does: ACTIVE_TEST to the tracker
// and the storage. Only failures print.
func (t *fdfsTest) activeTests(ctx context.Context, storage string) int {
	var err error
	trackers := t.c.Trackers()
	for _, tr := range trackers {
		if err = t.c.ActiveTest(ctx, tr); err == nil {
			break
		}
	}
	if err != nil {
		fmt.Fprintf(t.out, "active_test to tracker server %s fail, errno: %d\n", trackers[0], Errno(err))
	}
	if err := t.c.ActiveTest(ctx, storage); err != nil {
		fmt.Fprintf(t.out, "active_test to storage server %s fail, errno: %d\n", storage, Errno(err))
	}
	return 0
}

// fileOp: download|getmeta|setmeta|delete|query_servers <group> <remote> ….
func (t *fdfsTest) fileOp(ctx context.Context, op string, args []string) int {
	if len(args) < 2 {
		fmt.Fprintf(t.out, "Usage: fdfs_test <config_file> %s <group_name> <remote_filename>\n", op)
		return int(proto.StatusEINVAL)
	}
	if op == "setmeta" && len(args) < 4 {
		fmt.Fprintf(t.out, "Usage: fdfs_test <config_file> %s <group_name> <remote_filename> <op_flag> <metadata_list>\n"+
			"\top_flag: O for overwrite, M for merge\n"+
			"\tmetadata_list: name1=value1,name2=value2,...\n", op)
		return int(proto.StatusEINVAL)
	}
	group, remote := args[0], args[1]
	id := fileid.Join(group, remote)
	if op == "query_servers" {
		all, err := t.c.QueryFetchAll(ctx, id)
		if err != nil {
			fmt.Fprintf(t.out, "tracker_query_storage_list fail, group_name=%s, filename=%s, %s\n", group, remote, errInfo(err))
			return Errno(err)
		}
		fmt.Fprintf(t.out, "server list (%d):\n", len(all.Storages))
		for _, s := range all.Storages {
			fmt.Fprintf(t.out, "\t%s:%d\n", s.IP, s.Port)
		}
		fmt.Fprintln(t.out)
		return 0
	}
	st, err := t.c.QueryFetch(ctx, id, op != "download")
	if err != nil {
		fmt.Fprintf(t.out, "tracker_query_storage_fetch fail, group_name=%s, filename=%s, %s\n", group, remote, errInfo(err))
		return Errno(err)
	}
	storage := st.Storages[0]
	fmt.Fprintf(t.out, "storage=%s:%d\n", storage.IP, storage.Port)
	switch op {
	case "download":
		local := remote[strings.LastIndexByte(remote, '/')+1:]
		if len(args) >= 3 && args[2] != "CALLBACK" {
			local = args[2]
		}
		n, err := t.c.DownloadFile(ctx, id, local, 0, 0)
		if err != nil {
			fmt.Fprintln(t.out, FailLine("download file", err))
		} else {
			fmt.Fprintf(t.out, "download file success, file size=%d, file save to %s\n", n, local)
		}
	case "getmeta":
		meta, err := t.c.GetMetadata(ctx, id)
		if err != nil {
			fmt.Fprintln(t.out, FailLine("getmeta", err))
			break
		}
		fmt.Fprintf(t.out, "get meta data success, meta count=%d\n", len(meta))
		for _, m := range meta {
			fmt.Fprintf(t.out, "%s=%s\n", m.Name, m.Value)
		}
	case "setmeta":
		var flag byte
		if args[2] != "" {
			flag = args[2][0]
		}
		if err := t.c.SetMetadata(ctx, id, parseMetaList(args[3]), flag); err != nil {
			fmt.Fprintln(t.out, FailLine("setmeta", err))
		} else {
			fmt.Fprintln(t.out, "set meta data success")
		}
	case "delete":
		if err := t.c.Delete(ctx, id); err != nil {
			fmt.Fprintln(t.out, FailLine("delete file", err))
		} else {
			fmt.Fprintln(t.out, "delete file success")
		}
	}
	return t.activeTests(ctx, storage.String())
}

// parseMetaList reads "name1=value1,name2=value2"; an item without '='
// is skipped.
func parseMetaList(s string) []proto.Meta {
	var out []proto.Meta
	for _, item := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			continue
		}
		out = append(out, proto.Meta{Name: name, Value: value})
	}
	return out
}
