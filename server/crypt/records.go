package crypt

import (
	"context"

	"github.com/tma-portal/tma/server/tma"
)

// CaseRecords seals and opens case content (reports, messages, later notes)
// under the case key, with SealRecord's binding to tenant, case, table, row
// and field. New content is sealed only under a key checked against the
// stored one (SealingKey), never a cached key that a shred may have
// destroyed; reading may use the cache.
type CaseRecords struct {
	keys tma.CaseKeyService
}

var _ tma.RecordSealer = (*CaseRecords)(nil)

// NewCaseRecords returns a RecordSealer that takes case keys from keys.
func NewCaseRecords(keys tma.CaseKeyService) *CaseRecords { return &CaseRecords{keys: keys} }

// Seal fills Sealed of every record from Plain, with one key fetch.
func (r *CaseRecords) Seal(ctx context.Context, tenantID, caseID string, recs []*tma.Record) error {
	key, err := r.keys.SealingKey(ctx, tenantID, caseID)
	if err != nil {
		return err
	}
	defer wipe(key)
	for _, rec := range recs {
		if rec.Sealed, err = SealRecord(key, binding(tenantID, caseID, rec), rec.Plain); err != nil {
			return err
		}
	}
	return nil
}

// Open fills Plain of every record from Sealed, with one key fetch.
func (r *CaseRecords) Open(ctx context.Context, tenantID, caseID string, recs []*tma.Record) error {
	key, err := r.keys.CaseKey(ctx, tenantID, caseID)
	if err != nil {
		return err
	}
	defer wipe(key)
	for _, rec := range recs {
		if rec.Plain, err = OpenRecord(key, binding(tenantID, caseID, rec), rec.Sealed); err != nil {
			return err
		}
	}
	return nil
}

func binding(tenantID, caseID string, rec *tma.Record) RecordBinding {
	return RecordBinding{TenantID: tenantID, CaseID: caseID, Table: rec.Table, RowID: rec.RowID, Field: rec.Field}
}
