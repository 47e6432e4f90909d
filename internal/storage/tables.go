package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// EnsureTable creates the named table if it does not exist yet.
func EnsureTable(ctx context.Context, svc *aztables.ServiceClient, name string) error {
	_, err := svc.CreateTable(ctx, name, nil)
	var re *azcore.ResponseError
	if err != nil && !(errors.As(err, &re) && re.ErrorCode == string(aztables.TableAlreadyExists)) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	return nil
}

// IsStatus reports whether err is an Azure storage answer with one of the HTTP statuses.
func IsStatus(err error, statuses ...int) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && slices.Contains(statuses, re.StatusCode)
}
