-- The runbook's three indexes (step 2), one per slow route of the backend.
-- Plain SQL: you can run it by hand, but `perfkit apply-indexes` builds each index
-- CONCURRENTLY (no write blocked), repairs INVALID leftovers, ANALYZEs and verifies.
-- `-- perfkit:query` is the exact query the backend runs, `-- perfkit:params` values that
-- exist in the demo data: `perfkit verify-indexes --explain` proves each plan uses its index.

-- 1. Conversations (GET /conversations?account_id=): latest 50 of one account
-- perfkit:query SELECT id, account_id, contact_wa_id, contact_name, status, updated_at
-- perfkit:query FROM conversations WHERE account_id = $1 ORDER BY updated_at DESC LIMIT 50
-- perfkit:params 1
CREATE INDEX IF NOT EXISTS idx_conversations_account_updated
ON conversations(account_id, updated_at DESC);

-- 2. Messages (GET /messages/{conversation_id}): latest 50 of one conversation
-- perfkit:query SELECT id, conversation_id, "timestamp", direction, body, status
-- perfkit:query FROM messages WHERE conversation_id = $1 ORDER BY "timestamp" DESC LIMIT 50
-- perfkit:params md5('conv-1')::uuid
CREATE INDEX IF NOT EXISTS idx_messages_conversation_timestamp
ON messages(conversation_id, timestamp DESC);

-- 3. Accounts (POST /webhooks/whatsapp): the account a webhook's phone_number_id belongs to
-- perfkit:query SELECT id, user_id, phone_number_id, display_name
-- perfkit:query FROM whatsapp_accounts WHERE phone_number_id = $1
-- perfkit:params '100000000000001'
CREATE INDEX IF NOT EXISTS idx_accounts_phone_number_id
ON whatsapp_accounts(phone_number_id);

-- Fresh statistics so the planner sees the new indexes
ANALYZE conversations;
ANALYZE messages;
ANALYZE whatsapp_accounts;
