/* Parking a client of a paused database until RESUME. */
#include "frontend/client_pause.h"
#include "base/log.h"
#include "io/conn.h"

bool pause_park_slow(struct client *cl)
{
	if (!pause_is_paused_slow(cl->dbname))
		return false;
	if (list_empty(&cl->wait_node)) {
		list_append(&cl->c.w->parked, &cl->wait_node);
		log_debug(cl->c.prefix, "database %s is paused: the client waits for RESUME", cl->dbname);
	}
	return true;
}
