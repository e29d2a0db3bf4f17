-- References looked up by what they point at: a page's subjects (target = any(...)) in one index range each,
-- whatever the (type, param) pairs asked, and answered from the index alone (id included). It serves every
-- equality lookup the (type, param, target) index served, which it replaces.
CREATE INDEX "resource_reference_target_idx" ON "resource_reference" USING btree ("target","type","param","id");--> statement-breakpoint
DROP INDEX "resource_reference_lookup_idx";
