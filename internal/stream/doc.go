// Package stream archives Entra ID diagnostic logs that arrive through Event Hubs (the StreamEvents function): it
// splits each event's {"records":[…]} into records, reads each record leniently (keys in any case, properties as
// an object or a string holding one, Level and durationMs as numbers or strings, every time format Entra writes),
// routes it by category to a data type of the catalog (legacy names included; an unknown category keeps its own
// name), decides its integration from its tenant, and writes its exact bytes into the same archive and partitions
// as the Graph collector, with source=eventhub (reference/eventhub.md).
//
// Exactly once under redelivery: part names derive from the event hub, partition, sequence number and a hash of
// the event body, so a batch delivered again rebuilds the same parts, which the archive never replaces; and each
// distinct record content is claimed in Table Storage by the first part that wants it, so content Entra sends
// twice is archived once while a sign-in re-published with new content is archived again. Archive returns only
// when every part is committed. What cannot be read at all goes raw to quarantine/ with its reason, and records of
// a tenant no integration names go to quarantine/tenant=…; neither ever fails a batch.
package stream
