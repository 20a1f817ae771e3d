/** The label Compose puts on every container of a project. */
export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';

/** The label Compose puts on a container: the service it runs. */
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

/** The label Compose puts on a container: its number among the service's replicas. */
export const COMPOSE_CONTAINER_NUMBER_LABEL = 'com.docker.compose.container-number';

/** The label Compose puts on a container: True for a one-off `compose run` container. */
export const COMPOSE_ONEOFF_LABEL = 'com.docker.compose.oneoff';
