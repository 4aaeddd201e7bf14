package store

import "context"

// AddUploadsRound records fs as one group-commit round (addbatch.go), as
// concurrent AddUploaded calls would be. With strict, the round must go
// through add_uploads: a refusal of the whole round is returned as err
// instead of falling back to one upload at a time.
func (s *Store) AddUploadsRound(ctx context.Context, fs []NewFile, strict bool) (res []AddResult, errs []error, err error) {
	batch := make([]*addReq, len(fs))
	for i, f := range fs {
		batch[i] = &addReq{f: f, done: make(chan addOutcome, 1)}
	}
	res, errs = make([]AddResult, len(fs)), make([]error, len(fs))
	if strict {
		outs, err := s.callAddUploads(ctx, batch)
		if err != nil {
			return nil, nil, err
		}
		for i, o := range outs {
			res[i], errs[i] = o.res, o.err
		}
		return res, errs, nil
	}
	s.addBatch(ctx, batch)
	for i, r := range batch {
		out := <-r.done
		res[i], errs[i] = out.res, out.err
	}
	return res, errs, nil
}

// SetBatchMin sets the smallest round add_uploads_set records, until the
// test ends.
func SetBatchMin(t interface{ Cleanup(func()) }, n int) {
	old := setBatchMin
	setBatchMin = n
	t.Cleanup(func() { setBatchMin = old })
}
