package crypt

import (
	"context"

	"github.com/tma-portal/tma/server/tma"
)

// RecordSealer seals case fields with SealRecord under the key of their
// case, as tma.RecordSealer: services that store sealed text get it as that
// interface and never see a key.
type RecordSealer struct {
	keys tma.CaseKeyService
}

var _ tma.RecordSealer = (*RecordSealer)(nil)

// NewRecordSealer returns a RecordSealer that takes case keys from keys.
func NewRecordSealer(keys tma.CaseKeyService) *RecordSealer { return &RecordSealer{keys: keys} }

func binding(f tma.RecordField) RecordBinding {
	return RecordBinding{TenantID: f.TenantID, CaseID: f.CaseID, Table: f.Table, RowID: f.RowID, Field: f.Field}
}

// Seal seals plaintext under the case's key, freshly checked (SealingKey).
func (s *RecordSealer) Seal(ctx context.Context, f tma.RecordField, plaintext []byte) ([]byte, error) {
	key, err := s.keys.SealingKey(ctx, f.TenantID, f.CaseID)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return SealRecord(key, binding(f), plaintext)
}

// Open opens a field sealed by Seal for the same place.
func (s *RecordSealer) Open(ctx context.Context, f tma.RecordField, sealed []byte) ([]byte, error) {
	key, err := s.keys.CaseKey(ctx, f.TenantID, f.CaseID)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return OpenRecord(key, binding(f), sealed)
}
