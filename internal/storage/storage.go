// Package storage builds the Blob, Table and Queue clients of the app's storage account from the same settings the
// Functions host reads for AzureWebJobsStorage: a connection string locally (Azurite), identity-based service URLs
// in Azure. It also answers whether each service is reachable.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/entra-di/edi/internal/config"
)

// Clients are the service clients of one storage account.
type Clients struct {
	Blob  *azblob.Client
	Table *aztables.ServiceClient
	Queue *azqueue.ServiceClient
}

// Options tune the clients. A nil *Options means defaults.
type Options struct {
	// Credential overrides the identity used for identity-based access.
	Credential azcore.TokenCredential
}

// New builds the clients. It makes no network call.
func New(cfg config.Storage, opts *Options) (*Clients, error) {
	if opts == nil {
		opts = &Options{}
	}
	if !cfg.Identity() {
		return fromConnectionString(cfg.ConnectionString)
	}
	cred := opts.Credential
	if cred == nil {
		var err error
		cred, err = credential(cfg)
		if err != nil {
			return nil, err
		}
	}
	blob, err := azblob.NewClient(cfg.BlobURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("blob client: %w", err)
	}
	table, err := aztables.NewServiceClient(cfg.TableURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("table client: %w", err)
	}
	queue, err := azqueue.NewServiceClient(cfg.QueueURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("queue client: %w", err)
	}
	return &Clients{Blob: blob, Table: table, Queue: queue}, nil
}

func credential(cfg config.Storage) (azcore.TokenCredential, error) {
	if cfg.Credential == "managedidentity" {
		o := &azidentity.ManagedIdentityCredentialOptions{}
		if cfg.ClientID != "" {
			o.ID = azidentity.ClientID(cfg.ClientID)
		}
		return azidentity.NewManagedIdentityCredential(o)
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

func fromConnectionString(cs string) (*Clients, error) {
	blob, err := azblob.NewClientFromConnectionString(cs, nil)
	if err != nil {
		return nil, fmt.Errorf("blob client: %w", redact(err, cs))
	}
	table, err := aztables.NewServiceClientFromConnectionString(cs, nil)
	if err != nil {
		return nil, fmt.Errorf("table client: %w", redact(err, cs))
	}
	queue, err := azqueue.NewServiceClientFromConnectionString(cs, nil)
	if err != nil {
		return nil, fmt.Errorf("queue client: %w", redact(err, cs))
	}
	return &Clients{Blob: blob, Table: table, Queue: queue}, nil
}

// redact keeps an SDK error from echoing the account key of the connection string.
func redact(err error, cs string) error {
	msg := err.Error()
	for _, kv := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && v != "" && (strings.EqualFold(k, "AccountKey") || strings.EqualFold(k, "SharedAccessSignature")) {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return errors.New(msg)
}

// Reachability is the outcome of one probe of each service: "ok" or the error.
type Reachability struct {
	Blob  string `json:"blob"`
	Table string `json:"table"`
	Queue string `json:"queue"`
}

// OK reports whether every service answered.
func (r Reachability) OK() bool { return r.Blob == "ok" && r.Table == "ok" && r.Queue == "ok" }

// Ping probes the three services in parallel with one cheap read each, within timeout.
func (c *Clients) Ping(ctx context.Context, timeout time.Duration) Reachability {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	probe := func(f func() error) <-chan string {
		ch := make(chan string, 1)
		go func() {
			if err := f(); err != nil {
				ch <- describe(err)
				return
			}
			ch <- "ok"
		}()
		return ch
	}
	blob := probe(func() error {
		pager := c.Blob.NewListContainersPager(&azblob.ListContainersOptions{MaxResults: to32(1)})
		_, err := pager.NextPage(ctx)
		return err
	})
	table := probe(func() error {
		pager := c.Table.NewListTablesPager(&aztables.ListTablesOptions{Top: to32(1)})
		_, err := pager.NextPage(ctx)
		return err
	})
	queue := probe(func() error {
		pager := c.Queue.NewListQueuesPager(&azqueue.ListQueuesOptions{MaxResults: to32(1)})
		_, err := pager.NextPage(ctx)
		return err
	})
	return Reachability{Blob: <-blob, Table: <-table, Queue: <-queue}
}

func to32(n int32) *int32 { return &n }

// describe shortens an SDK error to its status and code; the SDK's full text repeats the request URL and headers.
func describe(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("error: HTTP %d %s", re.StatusCode, re.ErrorCode)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "error: timed out"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg) > 200 {
		msg = msg[i+2:]
	}
	return "error: " + msg
}
