//! The engine's event stream, narrowed to one project's containers and to
//! the actions that may mean drift: the engine filters (type, label,
//! action), and each event is checked again here, so an engine that
//! ignores a filter changes nothing.

use super::calls::call;
use crate::observe::{labels, EngineEvent, EventStream};
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Container actions that may leave the engine differing from the plan.
/// `kill` comes first when a container is stopped or killed, `die` when
/// it exits by itself.
pub(super) const ACTIONS: [&str; 6] = ["die", "destroy", "stop", "kill", "oom", "health_status: unhealthy"];

/// `Subscribed` once the engine answered, then the project's drift events.
pub(super) fn container_events(docker: &Docker, project: &str) -> EventStream {
    let filters = HashMap::from([
        ("type", vec!["container".to_string()]),
        ("label", vec![format!("{}={project}", labels::PROJECT)]),
        ("event", ACTIONS.map(String::from).to_vec()),
    ]);
    // From this second on: events between the engine's answer below and
    // the subscription are replayed, not lost.
    let since = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
    let opts = EventsOptionsBuilder::new().since(&since).filters(&filters).build();
    let (docker, project) = (docker.clone(), project.to_string());
    let answered = {
        let docker = docker.clone();
        async move { docker.ping().await.map(|_| EngineEvent::Subscribed).map_err(call("reach the engine for events")) }
    };
    let events = docker.events(Some(opts)).filter_map(move |r| {
        let item = match r {
            Ok(msg) => drift_event(&project, &msg).map(Ok),
            Err(e) => Some(Err(call("follow the engine's events")(e))),
        };
        std::future::ready(item)
    });
    Box::pin(futures_util::stream::once(answered).chain(events))
}

/// The event, when it is about a container of `project` and may mean drift.
pub(super) fn drift_event(project: &str, msg: &EventMessage) -> Option<EngineEvent> {
    if msg.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let action = msg.action.as_deref().filter(|a| ACTIONS.contains(a))?;
    let actor = msg.actor.as_ref()?;
    let attributes = actor.attributes.as_ref()?;
    if attributes.get(labels::PROJECT).map(String::as_str) != Some(project) {
        return None;
    }
    let name = attributes.get("name").or(actor.id.as_ref())?;
    Some(EngineEvent::Container { name: name.clone(), action: action.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn event(typ: EventMessageTypeEnum, action: &str, project: Option<&str>) -> EventMessage {
        let mut attributes = HashMap::from([("name".to_string(), "demo-web-web-1".to_string())]);
        if let Some(p) = project {
            attributes.insert(labels::PROJECT.to_string(), p.to_string());
        }
        EventMessage {
            typ: Some(typ),
            action: Some(action.to_string()),
            actor: Some(EventActor { id: Some("abc123".into()), attributes: Some(attributes) }),
            ..Default::default()
        }
    }

    #[test]
    fn drift_actions_of_the_projects_containers_count() {
        for action in ACTIONS {
            let got = drift_event("demo", &event(EventMessageTypeEnum::CONTAINER, action, Some("demo")));
            assert_eq!(got, Some(EngineEvent::Container { name: "demo-web-web-1".into(), action: action.into() }));
        }
    }

    #[test]
    fn other_actions_projects_and_types_do_not() {
        let c = EventMessageTypeEnum::CONTAINER;
        for action in ["start", "create", "health_status: healthy", "health_status: starting", "exec_start: sh"] {
            assert_eq!(drift_event("demo", &event(c, action, Some("demo"))), None, "{action}");
        }
        assert_eq!(drift_event("demo", &event(c, "die", Some("other"))), None);
        assert_eq!(drift_event("demo", &event(c, "die", Some("demo-2"))), None);
        assert_eq!(drift_event("demo", &event(c, "die", None)), None);
        assert_eq!(drift_event("demo", &event(EventMessageTypeEnum::NETWORK, "destroy", Some("demo"))), None);
    }
}
