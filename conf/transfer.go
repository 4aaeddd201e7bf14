package conf

import "time"

// Transfer holds yunpan's storage.conf keys guarding against slow senders
// and readers (slowloris); FastDFS has neither (its network_timeout is per
// read, so a client trickling a byte now and then holds a connection slot
// forever).
//
//   - min_transfer_rate: bytes per second (size suffixes K/M/G allowed). A
//     request body being received, or a file being sent, whose average rate
//     since the request started falls below it once the grace period is
//     over has its connection closed. Default 1K; 0 turns the guard off.
//   - min_transfer_rate_grace: seconds before the rate is enforced; 0 (the
//     default) means network_timeout.
type Transfer struct {
	MinRate int64         // min_transfer_rate, bytes/s; 0 = off
	Grace   time.Duration // min_transfer_rate_grace; 0 = network_timeout
}

// DefaultMinTransferRate is min_transfer_rate when the key is absent: far
// below any real link, far above a trickle of a byte per second.
const DefaultMinTransferRate = 1 << 10

// transfer reads the Transfer keys of the storage.conf section.
func (r *fields) transfer() Transfer {
	return Transfer{
		MinRate: r.bytes("min_transfer_rate", DefaultMinTransferRate),
		Grace:   r.nonNegSeconds("min_transfer_rate_grace", 0),
	}
}
